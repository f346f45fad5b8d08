import { spawn } from 'node:child_process';
import { distEntry } from '../helpers/fleet.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `liveprobe` bin to completion (stdout/stderr captured, no TTY: plain output). */
export function lp(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 240_000,
  /** Sees stderr as it comes (progress lines of a running command). */
  onStderr?: (all: string) => void,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [distEntry('cli/main.js'), ...args], {
      env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`liveprobe ${args.join(' ')} still running after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The JSON document a `-o json` command printed. */
export const json = <T = Record<string, unknown>>(r: CliRun): T =>
  JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as T;

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../shared/schemas.js';

/** Polls cond until it returns a truthy value (bounded); the error names what was awaited. */
export async function waitFor<T>(
  what: string,
  cond: () => T | Promise<T>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A valid report as an agent would publish it (for tests that exercise transport and ingest only). */
export function makeReport(opts: {
  jobId: string;
  region: string;
  targetId: string;
  agentId?: string;
  sweepId?: string;
  seq?: number;
}): Report {
  const now = new Date().toISOString();
  const seq = opts.seq ?? 0;
  return {
    id: `${opts.jobId}:${seq}`,
    jobId: opts.jobId,
    seq,
    sweepId: opts.sweepId,
    target: { id: opts.targetId, url: `http://127.0.0.1:1/${opts.targetId}.m3u8`, protocol: 'hls' },
    region: opts.region,
    agentId: opts.agentId ?? 'test-agent',
    probe: 'stream',
    mode: 'check',
    startedAt: now,
    endedAt: now,
    outcome: 'ok',
    reasons: [],
    metrics: { startup_ms: 100 },
    segments: [],
    errors: [],
    findings: [],
    version: '0.0.0-test',
  };
}

/** The checkout's root: the first parent with package.json (this file runs from test/ or dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** A compiled entry under dist/ (npm test builds first); a clear error when it is missing. */
export function distEntry(rel: string): string {
  const path = join(repoRoot(), 'dist', rel);
  if (!existsSync(path)) throw new Error(`${path} missing: run npx tsc -p . first (npm test builds)`);
  return path;
}

/** A separate agent process with stand-in probers (agent/testing/stand-in-agent.ts), so it can be killed -9. */
export function spawnStandInAgent(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [distEntry('agent/testing/stand-in-agent.js')], {
    env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Kill -9 by PID and wait until the process is gone. */
export async function kill9(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(child.pid, 'SIGKILL');
  await gone;
}

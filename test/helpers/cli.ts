import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Starts the built `liveprobe` bin as a real process (tests that kill -9 need a separate PID). */
export function spawnLiveprobe(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npm run build first (npm test does)`);
  return spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Polls url until it answers 2xx (bounded). */
export async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${url} not up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

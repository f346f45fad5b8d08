/**
 * Launches Chromium through the real BrowserPool, opens a page and reports what sandbox its renderers run
 * in (for probes/browser/sandbox.e2e.test.ts, which runs it as root and as an unprivileged user). Prints one
 * JSON line: the pool's choice, and each renderer's seccomp mode from /proc (2 = seccomp-bpf filter, the
 * sandbox's; 0 = none).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createLogger } from '../../../shared/log.js';
import { resolveChromiumPath } from '../chromium.js';
import { BrowserPool } from '../pool.js';

function status(pid: string): { ppid: number; seccomp: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      ppid: Number(/^PPid:\s+(\d+)/m.exec(s)?.[1]),
      seccomp: Number(/^Seccomp:\s+(\d+)/m.exec(s)?.[1] ?? -1),
    };
  } catch {
    return undefined;
  }
}

function renderers(root: number): number[] {
  const out: number[] = [];
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const parent = new Map(all.map((p) => [Number(p), status(p)?.ppid ?? 0]));
  const under = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 20; p = parent.get(p) ?? 0, n++) if (p === root) return true;
    return false;
  };
  for (const p of all) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('--type=renderer') && under(Number(p))) out.push(Number(p));
  }
  return out;
}

const pool = new BrowserPool({
  chromiumPath: resolveChromiumPath(undefined),
  extraArgs: [],
  logger: createLogger('sandbox-check', 'silent'),
  maxSessions: 1,
  recycleAfterSessions: 100,
  recycleAbovePssMb: 100_000,
  launchTimeoutMs: 60_000,
});
try {
  const lease = await pool.acquire(new AbortController().signal);
  const page = await lease.browser.newPage();
  await page.goto('data:text/html,<p>sandbox</p>');
  const pids = lease.pid ? renderers(lease.pid) : [];
  const seccomp = pids.map((p) => status(String(p))?.seccomp ?? -1);
  console.log(JSON.stringify({ uid: process.getuid?.(), ...pool.sandbox, renderers: pids.length, seccomp }));
  await page.close();
  lease.release();
} finally {
  await pool.close();
}

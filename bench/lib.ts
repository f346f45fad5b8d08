import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NatsChild, startNatsServer } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';

/** A throwaway nats-server with JetStream for one benchmark run. */
export async function benchNats(): Promise<NatsChild & { cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-nats-'));
  const nats = await startNatsServer({ port: await freeLoopbackPort(), storeDir: dir });
  return {
    ...nats,
    async cleanup() {
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Prints rows as an aligned table. */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i] as number)).join('  ');
  process.stdout.write(`${line(cols)}\n${line(width.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(cols.map((c) => String(r[c] ?? '')))}\n`);
}

/** CPU seconds (user + system, all threads) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** User and system CPU seconds of a process (all its threads), from /proc. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/**
 * `liveprobe controller` as its own process, resolved once /healthz answers. BENCH_CPU_PROF=<dir>: write a
 * V8 CPU profile of each controller process there (open it in Chrome DevTools). BENCH_CONTROLLER_LOG_DIR=<dir>:
 * keep each controller's log (info level) there.
 */
/**
 * V8 flags for bench controller processes: BENCH_CONTROLLER_SEMI_SPACE_MB=<n> runs them with an n MB
 * semi-space (comparisons: docs/benchmarks.md); unset or 0 = V8's default, as deployed.
 * BENCH_CONTROLLER_NODE_FLAGS="<flags>": more node flags, space-separated (e.g. --single-threaded-gc).
 */
export function controllerNodeFlags(): string[] {
  const mb = Number(process.env.BENCH_CONTROLLER_SEMI_SPACE_MB ?? 0);
  const extra = (process.env.BENCH_CONTROLLER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return [...(mb > 0 ? [`--max-semi-space-size=${mb}`] : []), ...extra];
}

export async function startControllerProcess(
  natsUrl: string,
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildProcess> {
  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  // BENCH_CONTROLLER_LOG_DIR=<dir>: each controller's info-level log in <dir>/controller-<port>.log.
  const logDir = process.env.BENCH_CONTROLLER_LOG_DIR;
  const log = logDir ? openSync(join(logDir, `controller-${port}.log`), 'a') : 'ignore';
  const child = spawn(
    process.execPath,
    [...prof, ...controllerNodeFlags(), MAIN, 'controller', '--port', String(port)],
    {
      env: {
        ...process.env,
        NATS_URL: natsUrl,
        LIVEPROBE_LOG_LEVEL: logDir ? (process.env.BENCH_CONTROLLER_LOG_LEVEL ?? 'info') : 'error',
        ...env,
      },
      stdio: ['ignore', log, 'inherit'],
    },
  );
  if (typeof log === 'number') closeSync(log);
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not up yet
    }
    if (Date.now() > until || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('controller did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

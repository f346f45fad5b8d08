/**
 * Helpers shared by the browser benchmarks (bench/accuracy.ts, bench/density.ts): argument parsing, medians,
 * CPU of a changing set of processes from /proc, PSS of the Chromium process group, dash.js location, and the
 * startup-breakdown consistency check.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { processGroupMembers, processGroupPssMb } from '../probes/browser/proc.js';
import type { StartupBreakdown } from '../shared/schemas.js';

/** USER_HZ on Linux: /proc/<pid>/stat times are in these ticks. */
export const CLK_TCK = 100;

/** `--name value` from argv, else def. */
export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

/** `--name 1,2,3` as numbers. */
export function numList(name: string, def: string): number[] {
  return arg(name, def)
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/** The median (mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** A number for a table cell: rounded, '-' when not a number. */
export function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** utime + stime (ticks) and start time (ticks after boot) of a process; undefined once it is gone. */
function procTicks(pid: number): { ticks: number; start: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) };
  } catch {
    return undefined;
  }
}

function uptimeTicks(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * CLK_TCK;
}

/**
 * CPU time of a set of processes that may change (Chromium starts a renderer per window). Call sample()
 * often (every second): CPU used between two samples by a process alive at both counts; a process born after
 * the meter started counts from its birth. A process that exits between samples loses its last interval.
 */
export class CpuMeter {
  private readonly last = new Map<number, number>();
  private readonly bornAfter = uptimeTicks();
  private totalTicks = 0;

  constructor(private readonly pids: () => number[]) {
    this.sample();
  }

  sample(): void {
    const seen = new Set<number>();
    for (const pid of this.pids()) {
      const p = procTicks(pid);
      if (!p) continue;
      seen.add(pid);
      const prev = this.last.get(pid);
      if (prev !== undefined) this.totalTicks += Math.max(0, p.ticks - prev);
      else if (p.start >= this.bornAfter) this.totalTicks += p.ticks;
      this.last.set(pid, p.ticks);
    }
    for (const pid of this.last.keys()) if (!seen.has(pid)) this.last.delete(pid);
  }

  /** Wall time and CPU seconds so far (after a fresh sample). */
  reading(): { wallMs: number; cpuS: number } {
    this.sample();
    return { wallMs: performance.now(), cpuS: this.totalTicks / CLK_TCK };
  }

  /** Percent of one core between two readings. */
  static pct(a: { wallMs: number; cpuS: number }, b: { wallMs: number; cpuS: number }): number {
    const wall = (b.wallMs - a.wallMs) / 1000;
    return wall > 0 ? ((b.cpuS - a.cpuS) / wall) * 100 : Number.NaN;
  }
}

/** Every process of the Chromium instance whose leader is pid (puppeteer starts it as a process group). */
export function chromiumPids(leader: number | undefined): number[] {
  return leader === undefined ? [] : processGroupMembers(leader);
}

/** Summed PSS (MB) over the Chromium process group: shared pages counted once, not once per process. */
export function chromiumPssMb(leader: number | undefined): number | undefined {
  return leader === undefined ? undefined : processGroupPssMb(leader);
}

/**
 * dash.all.min.js of the installed dashjs package. The package's `exports` map only publishes '.', so
 * resolving the file's own subpath fails; resolving 'dashjs' under the require condition gives the UMD build.
 */
export function dashJsPath(): string | undefined {
  try {
    const p = createRequire(import.meta.url).resolve('dashjs');
    return p.includes('/umd/') ? p : undefined;
  } catch {
    return undefined;
  }
}

const PART_ORDER: (keyof StartupBreakdown)[] = [
  'manifest_ms',
  'media_playlist_ms',
  'first_segment_ttfb_ms',
  'first_segment_ms',
  'first_buffered_ms',
  'first_frame_ms',
];

/**
 * How far a run's startup breakdown is from being consistent with its startup_ms (ms): the parts are
 * instants on one clock from loadSource, so they must come in order (manifest <= media playlist <= first
 * segment TTFB <= first segment loaded <= buffered <= first frame), none may exceed startup_ms, and the first
 * frame is startup_ms. Returns the largest violation (0 = consistent), NaN when there is nothing to check.
 */
export function startupPartsError(
  startup: StartupBreakdown | undefined,
  startupMs: number | undefined,
): number {
  if (!startup || startupMs === undefined) return Number.NaN;
  const parts = PART_ORDER.map((k) => startup[k]).filter((v): v is number => v !== undefined);
  if (startup.first_frame_ms === undefined) return Number.NaN;
  let err = Math.abs(startup.first_frame_ms - startupMs);
  for (let i = 1; i < parts.length; i++) err = Math.max(err, parts[i - 1]! - parts[i]!);
  for (const p of parts) err = Math.max(err, p - startupMs);
  return Math.round(err * 10) / 10;
}

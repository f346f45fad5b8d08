/**
 * Helpers shared by the browser benchmarks (bench/accuracy.ts, bench/density.ts): argument parsing, medians,
 * CPU of a changing set of processes from /proc, PSS of the Chromium process group, dash.js location, and the
 * startup-breakdown consistency check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { processGroupPssMb } from '../probes/browser/proc.js';
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

/** One process as /proc/<pid>/stat shows it. */
export interface ProcStat {
  pid: number;
  /** Command name (the kernel's comm, at most 15 characters). */
  comm: string;
  /** Process group id. */
  pgrp: number;
  /** utime + stime, in CLK_TCK ticks. */
  ticks: number;
  /** Start time, ticks after boot. */
  start: number;
}

/** Every process on the machine, one read of /proc. */
export function procStats(): ProcStat[] {
  const out: ProcStat[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      out.push({
        pid,
        comm: stat.slice(stat.indexOf('(') + 1, close),
        pgrp: Number(f[2]),
        ticks: Number(f[11]) + Number(f[12]),
        start: Number(f[19]),
      });
    } catch {}
  }
  return out;
}

function uptimeTicks(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * CLK_TCK;
}

/**
 * CPU time of a set of processes that may change (Chromium starts a renderer per window). Feed it a
 * procStats() snapshot often (every second): CPU used between two snapshots by a selected process alive at
 * both counts; a process born after the meter started counts from its birth. A process that exits between
 * snapshots loses its last interval.
 */
export class CpuMeter {
  private readonly last = new Map<number, number>();
  private readonly bornAfter = uptimeTicks();
  private totalTicks = 0;

  constructor(private readonly select: (p: ProcStat) => boolean) {}

  sample(stats: readonly ProcStat[]): void {
    const seen = new Set<number>();
    for (const p of stats) {
      if (!this.select(p)) continue;
      seen.add(p.pid);
      const prev = this.last.get(p.pid);
      if (prev !== undefined) this.totalTicks += Math.max(0, p.ticks - prev);
      else if (p.start >= this.bornAfter) this.totalTicks += p.ticks;
      this.last.set(p.pid, p.ticks);
    }
    for (const pid of this.last.keys()) if (!seen.has(pid)) this.last.delete(pid);
  }

  /** CPU seconds so far (after the snapshot given). */
  cpuS(stats: readonly ProcStat[]): number {
    this.sample(stats);
    return this.totalTicks / CLK_TCK;
  }
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

/**
 * The probe watching itself: how late its own process ran, so a finding that our lateness could explain
 * (a playlist that looks stale because we polled late, a segment that looks slow because we read it late) is
 * reported as inconclusive instead of as the stream's fault.
 *
 * One sampler per process (event-loop delay from perf_hooks, run-queue wait from /proc/self/schedstat) keeps
 * one-second slots; a report window reads the slots it spans. Sessions share it (refcounted), so a hundred
 * stream jobs cost one timer, not a hundred.
 */
import { readFileSync } from 'node:fs';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { SelfCheck } from '../shared/schemas.js';

/**
 * Event-loop delay at or above this (ms) makes the probe late: a poll or a timer ran that much behind. High
 * enough that the ordinary hiccups of a busy host do not excuse a real fault; a block this long can turn a
 * 2 s segment's download or a 1.5 x TARGETDURATION staleness judgement on its own.
 */
export const LATE_LOOP_LAG_MS = 1500;
/**
 * ...and the loop must have been blocked (stretches of 200 ms and more) for at least this share of the
 * window: one hiccup in a long window excuses nothing, a probe blocked a quarter of the time is unreliable.
 */
export const LATE_BLOCKED_RATIO = 0.25;
const BLOCK_FLOOR_MS = 200;
/** Reloads starting this late vs their plan (% of the interval, p95) make the stream probe late. */
export const LATE_POLL_DRIFT_PCT = 50;

const SLOT_MS = 1000;
const TICK_MS = 100;
const KEEP_SLOTS = 3700; // a little over an hour: the longest watch interval

interface Slot {
  /** Wall time the slot ended. */
  at: number;
  lagP99: number;
  lagMax: number;
  /** Run-queue wait and wall time in the slot (ns, ms). */
  waitNs: number;
  wallMs: number;
  /** Event-loop time blocked in stretches of BLOCK_FLOOR_MS or more. */
  blockedMs: number;
}

/** Main-thread run-queue wait in ns (Linux; undefined elsewhere or when the kernel does not expose it). */
function runQueueWaitNs(): number | undefined {
  try {
    const v = Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

class Sampler {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private readonly slots: Slot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  /** Our own lateness probe: a 100 ms timer's delay past its due time (max in the current slot). */
  private tickDue = 0;
  private tickLagMax = 0;
  private tickBlocked = 0;
  private lastAt = Date.now();
  private lastWait = runQueueWaitNs();
  users = 0;

  start(): void {
    this.h.enable();
    this.lastAt = Date.now();
    this.lastWait = runQueueWaitNs();
    this.timer = setInterval(() => this.slot(), SLOT_MS);
    this.timer.unref();
    // The histogram does not see every block (e.g. in a worker thread): a plain timer's own delay does.
    this.tickDue = Date.now() + TICK_MS;
    this.ticker = setInterval(() => {
      const now = Date.now();
      const lag = now - this.tickDue;
      this.tickLagMax = Math.max(this.tickLagMax, lag);
      if (lag >= BLOCK_FLOOR_MS) this.tickBlocked += lag;
      this.tickDue = now + TICK_MS;
    }, TICK_MS);
    this.ticker.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.ticker);
    this.timer = this.ticker = undefined;
    this.h.disable();
    this.slots.length = 0;
  }

  /** Closes the current slot (also called at read time, so a window sees up to now). */
  slot(): void {
    const now = Date.now();
    const wait = runQueueWaitNs();
    // The histogram is in ns; with no sample yet (a loop blocked for the whole slot) it reads 0, so the
    // gap since the last slot, beyond its length, is the lag that blocked it.
    // A tick overdue right now (the loop is only just free) counts too.
    const overdue = now - this.tickDue;
    const gap = Math.max(0, now - this.lastAt - SLOT_MS, this.tickLagMax, overdue);
    const blockedMs = this.tickBlocked + (overdue >= BLOCK_FLOOR_MS ? overdue : 0);
    this.tickLagMax = 0;
    this.tickBlocked = 0;
    // The overdue stretch is counted now: start the next tick's lateness from here.
    if (overdue > 0) this.tickDue = now;
    const count = this.h.count;
    this.slots.push({
      at: now,
      lagP99: count ? this.h.percentile(99) / 1e6 : gap,
      lagMax: Math.max(count ? this.h.max / 1e6 : 0, gap),
      waitNs: wait !== undefined && this.lastWait !== undefined ? Math.max(0, wait - this.lastWait) : 0,
      wallMs: now - this.lastAt,
      blockedMs,
    });
    if (this.slots.length > KEEP_SLOTS) this.slots.splice(0, this.slots.length - KEEP_SLOTS);
    this.h.reset();
    this.lastAt = now;
    this.lastWait = wait;
  }

  window(from: number): { lagP99?: number; lagMax?: number; waitRatio?: number; blockedRatio?: number } {
    this.slot();
    let lagP99: number | undefined;
    let lagMax: number | undefined;
    let waitNs = 0;
    let wallMs = 0;
    let blockedMs = 0;
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const s = this.slots[i] as Slot;
      if (s.at <= from) break;
      lagP99 = Math.max(lagP99 ?? 0, s.lagP99);
      lagMax = Math.max(lagMax ?? 0, s.lagMax);
      waitNs += s.waitNs;
      wallMs += s.wallMs;
      blockedMs += s.blockedMs;
    }
    const hasWait = this.lastWait !== undefined && wallMs > 0;
    return {
      lagP99,
      lagMax,
      ...(wallMs > 0 ? { blockedRatio: Math.min(1, blockedMs / wallMs) } : {}),
      ...(hasWait ? { waitRatio: waitNs / 1e6 / wallMs } : {}),
    };
  }
}

let shared: Sampler | undefined;

const r1 = (x: number) => Math.round(x * 10) / 10;

/** A session's handle on the process-wide sampler. */
export class SelfWatch {
  private closed = false;
  private readonly sampler: Sampler;

  constructor() {
    if (!shared) {
      shared = new Sampler();
      shared.start();
    }
    this.sampler = shared;
    this.sampler.users++;
  }

  /**
   * The self-check of a window that began at `from` (epoch ms). `extra` adds the probe kind's own lateness
   * (stream: reload drift; browser: renderer figures) and whether it alone makes the probe late.
   */
  check(from: number, extra: { figures?: Partial<SelfCheck>; late?: string[] } = {}): SelfCheck {
    const w = this.sampler.window(from);
    const causes = [...(extra.late ?? [])];
    const blocked = w.blockedRatio ?? 0;
    if (w.lagMax !== undefined && w.lagMax >= LATE_LOOP_LAG_MS && blocked >= LATE_BLOCKED_RATIO)
      causes.unshift(
        `the probe's event loop ran up to ${Math.round(w.lagMax)} ms late (blocked ${Math.round(blocked * 100)}% of the time)`,
      );
    if (causes.length && w.waitRatio !== undefined && w.waitRatio >= 0.2)
      causes.push(`its process waited for a CPU ${Math.round(w.waitRatio * 100)}% of the time`);
    return {
      ...(w.lagP99 !== undefined ? { loop_lag_p99_ms: r1(w.lagP99) } : {}),
      ...(w.lagMax !== undefined ? { loop_lag_max_ms: r1(w.lagMax) } : {}),
      ...(w.blockedRatio !== undefined
        ? { loop_blocked_ratio: Math.round(w.blockedRatio * 1000) / 1000 }
        : {}),
      ...(w.waitRatio !== undefined ? { cpu_wait_ratio: Math.round(w.waitRatio * 1000) / 1000 } : {}),
      ...extra.figures,
      late: causes.length > 0,
      ...(causes.length ? { cause: causes.join('; ').slice(0, 500) } : {}),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sampler.users--;
    if (this.sampler.users <= 0 && shared === this.sampler) {
      shared.stop();
      shared = undefined;
    }
  }
}

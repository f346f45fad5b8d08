/**
 * One timer for everything: a binary min-heap of due times (monotonic ms) and a single setTimeout armed for
 * the earliest. Thousands of renditions cost one pending timer, not thousands; insert, reschedule and cancel
 * are O(log n). Tasks never run early; a burst of due tasks is run in slices so I/O is not starved.
 */
import { performance } from 'node:perf_hooks';

export const mono = (): number => performance.now();

export interface Task {
  /** Monotonic due time (performance.now() ms). */
  due: number;
  /** Position in the heap; -1 when not scheduled. */
  slot: number;
  run(now: number): void;
}

export function task(run: (now: number) => void): Task {
  return { due: 0, slot: -1, run };
}

const SLICE = 256;

export class Scheduler {
  private heap: Task[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  /** How late tasks ran vs their due time, for the self-check (ms). */
  onLate?: (lateMs: number) => void;

  constructor(private readonly now: () => number = mono) {}

  get size(): number {
    return this.heap.length;
  }

  schedule(t: Task, due: number): void {
    if (this.closed) return;
    t.due = due;
    if (t.slot >= 0) {
      this.up(t.slot);
      this.down(t.slot);
    } else {
      t.slot = this.heap.length;
      this.heap.push(t);
      this.up(t.slot);
    }
    this.arm();
  }

  cancel(t: Task): void {
    const i = t.slot;
    if (i < 0) return;
    const last = this.heap.pop()!;
    t.slot = -1;
    if (last !== t) {
      this.heap[i] = last;
      last.slot = i;
      this.up(i);
      this.down(i);
    }
    if (this.heap.length === 0) this.disarm();
  }

  close(): void {
    this.closed = true;
    for (const t of this.heap) t.slot = -1;
    this.heap = [];
    this.disarm();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first) {
      this.disarm();
      return;
    }
    if (this.timer && this.timerAt <= first.due) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.ceil(first.due - this.now()));
    this.timerAt = first.due;
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    let n = 0;
    while (!this.closed && n < SLICE) {
      const first = this.heap[0];
      if (!first || first.due > now) break;
      this.pop();
      n++;
      this.onLate?.(now - first.due);
      try {
        first.run(now);
      } catch {
        // a task's own failure is its business; the scheduler keeps going
      }
    }
    if (this.closed) return;
    const first = this.heap[0];
    if (n >= SLICE && first && first.due <= now) {
      // More were due: yield to I/O, then continue.
      this.timerAt = first.due;
      this.timer = setTimeout(() => this.fire(), 0);
      return;
    }
    this.arm();
  }

  private pop(): void {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    top.slot = -1;
    if (last !== top) {
      this.heap[0] = last;
      last.slot = 0;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const t = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = h[p]!;
      if (pt.due <= t.due) break;
      h[i] = pt;
      pt.slot = i;
      i = p;
    }
    h[i] = t;
    t.slot = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const t = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.due < h[l]!.due ? r : l;
      const ct = h[c]!;
      if (ct.due >= t.due) break;
      h[i] = ct;
      ct.slot = i;
      i = c;
    }
    h[i] = t;
    t.slot = i;
  }
}

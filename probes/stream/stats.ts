/** Bounded sample sets for percentiles: exact count, uniform reservoir of at most `cap` values. */
export class Reservoir {
  private values: number[] = [];
  count = 0;
  constructor(private readonly cap = 4096) {}

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    this.count++;
    if (this.values.length < this.cap) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.count);
      if (j < this.cap) this.values[j] = v;
    }
  }

  percentile(p: number): number | undefined {
    return percentile(this.values, p);
  }

  reset(): void {
    this.values = [];
    this.count = 0;
  }
}

/** Nearest-rank percentile (p in 0..100) of an unsorted list; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function round(v: number | undefined, digits = 1): number | undefined {
  if (v === undefined || !Number.isFinite(v)) return undefined;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

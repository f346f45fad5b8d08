/**
 * Percentiles by linear interpolation between closest ranks (the "R-7" / NumPy default definition).
 * Sorts a copy once per call: used in Node over at most a few thousand samples at report time, never on a hot
 * path in the page.
 */
export function percentiles<P extends number>(
  values: readonly number[],
  ps: readonly P[],
): Record<P, number> | null {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const out = {} as Record<P, number>;
  for (const p of ps) {
    if (p < 0 || p > 100) throw new RangeError(`percentile ${p} outside 0..100`);
    const h = (xs.length - 1) * (p / 100);
    const lo = Math.floor(h);
    const a = xs[lo] as number;
    const b = xs[Math.min(lo + 1, xs.length - 1)] as number;
    out[p] = a + (h - lo) * (b - a);
  }
  return out;
}

/** One percentile, or undefined for no samples (so callers omit the metric instead of reporting 0). */
export function percentile(values: readonly number[], p: number): number | undefined {
  return percentiles(values, [p])?.[p];
}

import { describe, expect, it } from 'vitest';
import { percentile, percentiles } from './percentiles.js';

describe('percentiles', () => {
  it('returns null for no samples (the caller omits the metric)', () => {
    expect(percentiles([], [50])).toBeNull();
    expect(percentile([], 95)).toBeUndefined();
    expect(percentile([Number.NaN], 50)).toBeUndefined();
  });

  it('one sample is every percentile', () => {
    expect(percentiles([7], [0, 50, 95, 100])).toEqual({ 0: 7, 50: 7, 95: 7, 100: 7 });
  });

  it('interpolates between closest ranks (R-7)', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 50)).toBe(30);
    expect(percentile([10, 20, 30, 40, 50], 95)).toBeCloseTo(48, 10);
    expect(percentile([10, 20, 30, 40, 50], 100)).toBe(50);
    expect(percentile([10, 20, 30, 40, 50], 0)).toBe(10);
  });

  it('does not care about input order and does not mutate it', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(percentile(xs, 50)).toBe(3);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
  });

  it('handles negatives (latency with a skewed clock)', () => {
    expect(percentile([-30, -10, -20], 50)).toBe(-20);
  });

  it('p95 of 1..100', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 95)).toBeCloseTo(95.05, 10);
  });

  it('rejects a percentile outside 0..100', () => {
    expect(() => percentiles([1], [101])).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { prng } from '../../shared/testing/prng.js';
import { acceptClamped, acceptKeyed, keyOf, newSketch, quantiles } from './sketch.js';

describe('acceptKeyed', () => {
  it('leaves a sketch exactly as acceptClamped does (negatives and zero to the zero bucket)', () => {
    const rand = prng(5);
    const a = newSketch();
    const b = newSketch();
    const values = [0, -0, -5, 1e-300, 5e-324, 1e-9, 1, 4100, 1e12];
    for (let i = 0; i < 5000; i++) values.push((rand() - 0.1) * 10 ** (rand() * 8));
    for (const v of values) {
      acceptClamped(a, v);
      acceptKeyed(b, v, keyOf(v));
    }
    const state = (s: ReturnType<typeof newSketch>) => {
      const st = s.store as unknown as { bins: number[]; offset: number; count: number };
      return {
        q: quantiles(s),
        zero: s.zeroCount,
        count: s.count,
        sum: s.sum,
        min: s.min,
        max: s.max,
        store: st.count,
        keys: st.bins.map((c, i) => [i + st.offset, c]).filter(([, c]) => c),
      };
    };
    expect(state(b)).toEqual(state(a));
    expect(b.zeroCount).toBeGreaterThan(0);
  });
});

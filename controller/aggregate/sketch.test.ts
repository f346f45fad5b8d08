import { describe, expect, it } from 'vitest';
import { prng } from '../../shared/testing/prng.js';
import {
  acceptClamped,
  acceptCode,
  acceptKeyed,
  codeOf,
  keyOf,
  keyOfCode,
  metricOfCode,
  newSketch,
  quantiles,
  valueOfKey,
} from './sketch.js';

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

describe("codes (a series bucket's keys)", () => {
  const binsOf = (s: ReturnType<typeof newSketch>) => {
    const st = s.store as unknown as { bins: number[]; offset: number };
    return st.bins.map((c, i) => [i + st.offset, c]).filter(([, c]) => c);
  };

  it('hold every key a finite value can have, and its metric, and give the same bins', () => {
    const rand = prng(11);
    const values = [0, -3, 1e-300, 2.3e-308, Number.MIN_VALUE, 1, 4100, 1e12, Number.MAX_VALUE];
    for (let i = 0; i < 20_000; i++) values.push((rand() - 0.1) * 10 ** (rand() * 40 - 20));
    const direct = newSketch();
    const coded = newSketch();
    for (const [n, v] of values.entries()) {
      const metric = n % 14;
      const key = keyOf(v);
      const code = codeOf(metric, key);
      expect(metricOfCode(code)).toBe(metric);
      expect(keyOfCode(code)).toEqual(key);
      // The value a key stands for falls in that key's bin: what travels between replicas as a raw value.
      if (!Number.isNaN(key)) expect(keyOf(valueOfKey(key))).toBe(key);
      acceptClamped(direct, v);
      acceptCode(coded, code);
    }
    expect(binsOf(coded)).toEqual(binsOf(direct));
    expect(coded.zeroCount).toBe(direct.zeroCount);
    expect(quantiles(coded)).toEqual(quantiles(direct));
  });
});

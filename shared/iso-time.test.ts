import { describe, expect, it } from 'vitest';
import { isoMs } from './iso-time.js';
import { prng } from './testing/prng.js';

describe('isoMs', () => {
  it('equals Date.parse on canonical timestamps across centuries, leap days and month ends', () => {
    const rand = prng(3);
    for (let i = 0; i < 20_000; i++) {
      const s = new Date(Math.floor(rand() * 7e12)).toISOString();
      expect(isoMs(s), s).toBe(Date.parse(s));
    }
    for (const s of [
      '1970-01-01T00:00:00.000Z',
      '2000-02-29T12:00:00.000Z',
      '2024-02-29T23:59:59.999Z',
      '2026-12-31T23:59:59.999Z',
      '2026-03-01T00:00:00.000Z',
    ])
      expect(isoMs(s), s).toBe(Date.parse(s));
  });

  it('defers to Date.parse for every other form and for out-of-range fields (same result, NaN included)', () => {
    for (const s of [
      '2026-11-27T11:00:00+01:00',
      '2026-11-27T11:00:00Z',
      '2026-11-27T11:00:00.123456Z',
      '2026-02-29T00:00:00.000Z',
      '2100-02-29T00:00:00.000Z',
      '2026-02-30T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
      '2026-01-01T00:60:00.000Z',
      '2026-01-01T00:00:60.000Z',
      '2026-01-01T00:00:00.0a0Z',
      '20x6-01-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z',
      '+02026-01-01T00:00:00.000Z',
      'not a date at all, 24 ch',
      '',
    ]) {
      expect(Object.is(isoMs(s), Date.parse(s)), s).toBe(true);
    }
  });
});

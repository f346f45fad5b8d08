import { describe, expect, it } from 'vitest';
import type { Silence } from './schema.js';
import { matchesAll, occurrenceAt, silencedBy, silenceStatus, zonedEpoch } from './silence.js';

const silence = (over: Partial<Silence> = {}): Silence => ({
  id: 's1',
  matchers: [{ name: 'target', value: 'ch1', is_regex: false, is_equal: true }],
  starts_at: '2026-01-01T00:00:00Z',
  ends_at: '2026-12-31T00:00:00Z',
  created_by: 'ops',
  comment: 'maintenance',
  created_at: '2026-01-01T00:00:00Z',
  ...over,
});

describe('silence', () => {
  it('matchers: equal, not equal, anchored regex', () => {
    const l = { target: 'ch-12', region: 'eu', severity: 'critical' };
    expect(matchesAll([{ name: 'target', value: 'ch-1', is_regex: false, is_equal: true }], l)).toBe(false);
    expect(matchesAll([{ name: 'target', value: 'ch-1\\d', is_regex: true, is_equal: true }], l)).toBe(true);
    expect(matchesAll([{ name: 'target', value: 'ch', is_regex: true, is_equal: true }], l)).toBe(false);
    expect(matchesAll([{ name: 'region', value: 'us', is_regex: false, is_equal: false }], l)).toBe(true);
    expect(matchesAll([{ name: 'team', value: '', is_regex: false, is_equal: true }], l)).toBe(true);
  });

  it('start and end', () => {
    const s = silence();
    expect(silenceStatus(s, Date.parse('2025-12-31T23:00:00Z'))).toBe('pending');
    expect(silenceStatus(s, Date.parse('2026-06-01T00:00:00Z'))).toBe('active');
    expect(silenceStatus(s, Date.parse('2026-12-31T00:00:00Z'))).toBe('expired');
    expect(silencedBy({ target: 'ch1' }, [s], Date.parse('2026-06-01T00:00:00Z'))).toEqual(['s1']);
    expect(silencedBy({ target: 'ch2' }, [s], Date.parse('2026-06-01T00:00:00Z'))).toEqual([]);
  });

  it('weekly maintenance windows in a time zone, across DST and midnight', () => {
    // Sundays 23:00-01:00 Europe/Berlin.
    const r = { days: ['sun' as const], start: '23:00', duration: '2h', tz: 'Europe/Berlin' };
    // 2026-03-29 is the spring-forward Sunday (CEST from 02:00): 23:00 CEST = 21:00Z.
    expect(occurrenceAt(r, Date.parse('2026-03-29T21:30:00Z'))).toEqual([
      Date.parse('2026-03-29T21:00:00Z'),
      Date.parse('2026-03-29T23:00:00Z'),
    ]);
    // A winter Sunday: 23:00 CET = 22:00Z; still inside on Monday 00:30 local.
    expect(occurrenceAt(r, Date.parse('2026-01-04T23:30:00Z'))?.[0]).toBe(Date.parse('2026-01-04T22:00:00Z'));
    expect(occurrenceAt(r, Date.parse('2026-01-05T00:00:00Z'))).toBeUndefined();
    expect(occurrenceAt(r, Date.parse('2026-01-07T22:30:00Z'))).toBeUndefined();
    const s = silence({ recurrence: { ...r } });
    expect(silenceStatus(s, Date.parse('2026-01-04T22:30:00Z'))).toBe('active');
    expect(silenceStatus(s, Date.parse('2026-01-06T22:30:00Z'))).toBe('pending');
    expect(zonedEpoch('America/New_York', 2026, 7, 1, 9, 0)).toBe(Date.parse('2026-07-01T13:00:00Z'));
  });
});

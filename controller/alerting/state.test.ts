import { describe, expect, it } from 'vitest';
import type { Alert } from './schema.js';
import { advance } from './state.js';
import { rule } from './testing.js';
import type { Candidate } from './types.js';

const cand = (active: boolean, over: Partial<Candidate> = {}, r = rule()): Candidate => ({
  rule: r,
  fingerprint: 'f'.repeat(16),
  labels: { alertname: r.id, target: 't' },
  annotations: {},
  active,
  held: false,
  value: active ? 1 : 0,
  threshold: 0,
  evidence: { regions: [] },
  ...over,
});

describe('state', () => {
  it('for: 0 fires at once; resolves when the condition goes; a new breach is a new episode', () => {
    const a = advance(undefined, cand(true), 1000);
    expect(a.transition).toBe('firing');
    expect(a.next).toMatchObject({ state: 'firing', fired_at: new Date(1000).toISOString() });
    const b = advance(a.next, cand(true), 2000);
    expect(b.transition).toBeUndefined();
    expect(b.next?.fired_at).toBe(a.next?.fired_at);
    const c = advance(b.next, cand(false), 3000);
    expect(c).toMatchObject({
      transition: 'resolved',
      next: { state: 'resolved', resolved_at: new Date(3000).toISOString() },
    });
    expect(advance(c.next, cand(false), 4000).transition).toBeUndefined();
    const d = advance(c.next, cand(true), 5000);
    expect(d).toMatchObject({ transition: 'firing', next: { fired_at: new Date(5000).toISOString() } });
  });

  it('for: pending until it lasted; dropped if it goes before', () => {
    const r = rule({ for: '10s' });
    const p = advance(undefined, cand(true, {}, r), 0);
    expect(p).toMatchObject({ transition: 'pending', next: { state: 'pending' } });
    expect(advance(p.next, cand(true, {}, r), 9_999).transition).toBeUndefined();
    expect(advance(p.next, cand(true, {}, r), 10_000)).toMatchObject({
      transition: 'firing',
      next: { state: 'firing' },
    });
    expect(advance(p.next, cand(false, {}, r), 5_000)).toEqual({ next: undefined, transition: 'dropped' });
    expect(advance(p.next, undefined, 5_000)).toEqual({ next: undefined, transition: 'dropped' });
  });

  it('keep_firing_for holds through a short gap', () => {
    const r = rule({ keep_firing_for: '30s' });
    const f = advance(undefined, cand(true, {}, r), 0).next as Alert;
    expect(advance(f, cand(false, {}, r), 29_000).next?.state).toBe('firing');
    expect(advance(f, cand(false, {}, r), 30_000).transition).toBe('resolved');
    // no candidate at all (no data in the window): the rule's keep_firing_for still applies
    expect(advance(f, undefined, 10_000, r).next?.state).toBe('firing');
    expect(advance(f, undefined, 10_000).transition).toBe('resolved');
  });

  it('held (breach only in inhibited regions) neither resolves nor fires', () => {
    const f = advance(undefined, cand(true), 0).next as Alert;
    const h = advance(f, cand(false, { held: true }), 60_000);
    expect(h.transition).toBeUndefined();
    expect(h.next).toMatchObject({
      state: 'firing',
      held: true,
      last_breach_at: new Date(60_000).toISOString(),
    });
    expect(advance(undefined, cand(false, { held: true }), 0).next).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { AlertingFile, type Receiver } from './config.js';
import { type NotifiedView, notificationKey, plan, routeReceivers } from './group.js';
import type { Alert, Silence } from './schema.js';

const file = AlertingFile.parse({
  receivers: [
    { name: 'hook', kind: 'webhook', url: 'http://127.0.0.1:9/h' },
    { name: 'pd', kind: 'pagerduty', routing_key: 'k' },
    { name: 'am', kind: 'alertmanager', url: 'http://127.0.0.1:9/' },
  ],
  route: {
    receivers: ['hook'],
    group_interval: '5s',
    repeat_interval: '1h',
    routes: [{ matchers: ['severity="critical"'], receivers: ['pd', 'hook'] }],
  },
});
const receivers = new Map<string, Receiver>(file.receivers.map((r) => [r.name, r]));

const T0 = Date.parse('2026-05-01T00:00:00Z');
const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
  id,
  rule: 'stale',
  state: 'firing',
  labels: { alertname: 'stale', target: 'ch1', severity: 'warning' },
  annotations: {},
  active_at: new Date(T0).toISOString(),
  fired_at: new Date(T0).toISOString(),
  updated_at: new Date(T0).toISOString(),
  value: 1,
  threshold: 0,
  held: false,
  evidence: { regions: [] },
  ...over,
});

/** A notification log as a Set of keys taken. */
function log(keys: string[] = []): NotifiedView & { keys: Set<string> } {
  const set = new Set(keys);
  return { keys: set, taken: (k) => set.has(k), claimed: (k) => set.has(k) };
}

const run = (
  alerts: Alert[],
  l = log(),
  now = T0,
  clock = new Map<string, number>(),
  silences: Silence[] = [],
) => plan({ alerts, silences, route: file.route, receivers, log: l, clock, now });

describe('group and dedup', () => {
  it('routes by matchers, falls back to the default receivers', () => {
    expect(routeReceivers(file.route, { severity: 'critical' })).toEqual(['pd', 'hook']);
    expect(routeReceivers(file.route, { severity: 'warning' })).toEqual(['hook']);
  });

  it('a firing alert is planned once per receiver; alerts of one target share a notification', () => {
    const a = alert('a'.repeat(16));
    const b = alert('b'.repeat(16), { labels: { alertname: 'slow', target: 'ch1', severity: 'critical' } });
    const c = alert('c'.repeat(16), { labels: { alertname: 'stale', target: 'ch2', severity: 'warning' } });
    const out = run([a, b, c]);
    expect(
      out.map((n) => [n.receiver.name, n.groupLabels.target, n.items.map((i) => i.alert.id[0])]),
    ).toEqual([
      ['hook', 'ch1', ['a', 'b']],
      ['pd', 'ch1', ['b']],
      ['hook', 'ch2', ['c']],
    ]);
    // Once in the log, not again (dedup by fingerprint x episode x receiver).
    const l = log(out.flatMap((n) => n.items.map((i) => i.key)));
    expect(run([a, b, c], l, T0 + 60_000)).toEqual([]);
  });

  it('pending alerts wait; silenced ones are not sent; resolve notices only for what was sent', () => {
    const p = alert('p'.repeat(16), { state: 'pending', fired_at: undefined });
    const s = alert('s'.repeat(16), { labels: { alertname: 'stale', target: 'ch9', severity: 'warning' } });
    const sil: Silence = {
      id: 'x',
      matchers: [{ name: 'target', value: 'ch9', is_regex: false, is_equal: true }],
      starts_at: new Date(T0 - 1000).toISOString(),
      ends_at: new Date(T0 + 3_600_000).toISOString(),
      created_by: 'me',
      comment: 'c',
      created_at: new Date(T0).toISOString(),
    };
    expect(run([p, s], log(), T0, new Map(), [sil])).toEqual([]);
    // The silence ends while it still fires: sent then.
    expect(run([p, s], log(), T0 + 3_600_000, new Map(), [sil])).toHaveLength(1);

    const resolved = alert('r'.repeat(16), {
      state: 'resolved',
      resolved_at: new Date(T0 + 10_000).toISOString(),
    });
    expect(run([resolved])).toEqual([]); // never paged: nothing to resolve
    const fk = notificationKey(resolved.id, T0, 'hook', 'firing');
    const [n] = run([resolved], log([fk]), T0 + 10_000);
    expect(n?.items.map((i) => i.what)).toEqual(['resolved']);
    expect(
      run([resolved], log([fk, notificationKey(resolved.id, T0, 'hook', 'resolved')]), T0 + 20_000),
    ).toEqual([]);
    // A resolve notice goes out even under a silence (an open incident must close).
    expect(run([resolved], log([fk]), T0 + 10_000, new Map(), [{ ...sil, matchers: [] }])).toHaveLength(1);
  });

  it('repeat_interval, and the Alertmanager resend interval', () => {
    const a = alert('a'.repeat(16));
    const l = log([notificationKey(a.id, T0, 'hook', 'firing')]);
    expect(run([a], l, T0 + 3_599_000)).toEqual([]);
    const [n] = run([a], l, T0 + 3_600_000);
    expect(n?.items[0]?.what).toBe('firing-r1');

    const route = { ...file.route, receivers: ['am'], routes: [] };
    const amLog = log([notificationKey(a.id, T0, 'am', 'firing')]);
    const out = plan({
      alerts: [a],
      silences: [],
      route,
      receivers,
      log: amLog,
      clock: new Map(),
      now: T0 + 61_000,
    });
    expect(out[0]?.items[0]?.what).toBe('firing-r1');
  });

  it('group_wait for a new group, group_interval between notifications of a group', () => {
    const route = { ...file.route, group_wait: '2s' };
    const clock = new Map<string, number>();
    const a = alert('a'.repeat(16));
    const go = (now: number, alerts = [a], l = log()) =>
      plan({ alerts, silences: [], route, receivers, log: l, clock, now });
    expect(go(T0 + 1000)).toEqual([]);
    const first = go(T0 + 2000);
    expect(first).toHaveLength(1);
    const b = alert('b'.repeat(16));
    const l = log(first[0]?.items.map((i) => i.key));
    expect(go(T0 + 4000, [a, b], l)).toEqual([]); // < group_interval after the last
    expect(go(T0 + 7000, [a, b], l)[0]?.items.map((i) => i.alert.id[0])).toEqual(['b']);
  });
});

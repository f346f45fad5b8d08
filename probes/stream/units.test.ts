import { describe, expect, it } from 'vitest';
import { FINDING_CODES } from '../../shared/metrics.js';
import { Finding } from '../../shared/schemas.js';
import { FindingBook } from './findings.js';
import type { Observation } from './model.js';
import { mono, Scheduler, task } from './scheduler.js';

const obs = (code: Observation['code'], severity: Observation['severity'] = 'warning'): Observation => ({
  code,
  severity,
  summary: `${code} happened`,
  evidence: 'lines',
});

describe('FindingBook', () => {
  it('collapses repeats into one finding with a count and keeps the first evidence', () => {
    const b = new FindingBook();
    b.record('v1', 1, { ...obs('playlist-stale'), evidence: 'first' });
    b.record('v1', 2, { ...obs('playlist-stale', 'critical'), evidence: 'second' });
    b.record('v2', 3, obs('playlist-stale'));
    const f = b.findings();
    expect(f).toHaveLength(2);
    expect(f[0]).toMatchObject({ variant: 'v1', count: 2, at: 1, evidence: 'first', severity: 'critical' });
  });

  it('never returns more than 200 findings, folding the rest per code', () => {
    const b = new FindingBook();
    for (let i = 0; i < 3000; i++) b.record(`v${i}`, i, obs(FINDING_CODES[i % FINDING_CODES.length]!));
    const f = b.findings();
    expect(f.length).toBeLessThanOrEqual(200);
    for (const x of f) Finding.parse(x);
    const total = f.reduce((n, x) => n + x.count, 0);
    expect(total).toBe(3000);
  });

  it('records segment-slow as a finding (it has a code in shared/metrics.ts)', () => {
    const b = new FindingBook();
    b.record('v1', 1, obs('segment-slow'));
    expect(b.findings().map((f) => f.code)).toEqual(['segment-slow']);
    expect(b.notes()).toHaveLength(0);
  });
});

describe('Scheduler', () => {
  it('runs tasks in due order, never early, with one timer; cancel and reschedule work', async () => {
    const s = new Scheduler();
    const ran: Array<[string, number]> = [];
    const t0 = mono();
    const mk = (name: string) => task((now) => ran.push([name, now]));
    const a = mk('a');
    const b = mk('b');
    const c = mk('c');
    const d = mk('d');
    s.schedule(a, t0 + 30);
    s.schedule(b, t0 + 10);
    s.schedule(c, t0 + 20);
    s.schedule(d, t0 + 5);
    s.cancel(d);
    s.schedule(c, t0 + 40);
    expect(s.size).toBe(3);
    await new Promise((r) => setTimeout(r, 80));
    expect(ran.map((r) => r[0])).toEqual(['b', 'a', 'c']);
    const due: Record<string, number> = { a: 30, b: 10, c: 40 };
    for (const [name, at] of ran) expect(at - t0).toBeGreaterThanOrEqual(due[name]!);
    s.close();
  });

  it('handles thousands of tasks in order', async () => {
    const s = new Scheduler();
    const t0 = mono();
    const order: number[] = [];
    const dues = Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 50) + Math.random());
    for (const [i, d] of dues.entries())
      s.schedule(
        task(() => order.push(i)),
        t0 + d,
      );
    await new Promise((r) => setTimeout(r, 120));
    expect(order).toHaveLength(5000);
    for (let i = 1; i < order.length; i++)
      expect(dues[order[i]!]!).toBeGreaterThanOrEqual(dues[order[i - 1]!]!);
    s.close();
  });
});

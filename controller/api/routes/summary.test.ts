import { describe, expect, it } from 'vitest';
import { fleetReport, withSketches } from '../../../bench/report-fixture.js';
import { Aggregator, type SummaryGroup } from '../../aggregate/aggregator.js';
import { groupsJson } from './summary.js';

function groups(): SummaryGroup[] {
  const agg = new Aggregator({ cacheMs: 0 });
  for (let r = 0; r < 3; r++)
    for (let t = 0; t < 20; t++) agg.add(withSketches(fleetReport('x', r, t, 0), r + t));
  agg.add({ ...fleetReport('x', 0, 99, 0), outcome: 'failed', findings: [] });
  return agg.summary({ window: '5m', groupBy: 'target' });
}

describe('groupsJson (the /v1/summary body, checked once per answer)', () => {
  it("sends an answer as the aggregator made it, and as zod's check would have", () => {
    const g = groups();
    expect(g.length).toBe(21);
    const body = JSON.parse(groupsJson(g, false));
    expect(body).toEqual(JSON.parse(JSON.stringify(g)));
    expect(body[0].metrics.segment_ttfb_p50_ms.of).toBe('samples');
  });

  it('strips a key the schema does not know, as zod does, and refuses a malformed answer', () => {
    const g = groups().map((x, i) => (i === 3 ? { ...x, internal: 'secret' } : x));
    const body = JSON.parse(groupsJson(g, false));
    expect(body[3]).not.toHaveProperty('internal');
    expect(body[3].key).toBe((g[3] as SummaryGroup).key);
    const bad = groups().map((x, i) => (i === 2 ? { ...x, count: Number.NaN } : x));
    expect(() => groupsJson(bad, false)).toThrow();
    const worse = groups().map((x, i) => (i === 1 ? { ...x, success_ratio: 'high' } : x)) as never;
    expect(() => groupsJson(worse, false)).toThrow();
  });
});

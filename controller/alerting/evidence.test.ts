import { describe, expect, it } from 'vitest';
import type { Report } from '../../shared/schemas.js';
import { RecentReports } from './evidence.js';
import { rule } from './testing.js';

const report = (id: string, over: Partial<Report> = {}): Report => ({
  id,
  jobId: id.split(':')[0] as string,
  seq: 1,
  target: { id: 'ch1', url: 'http://x/m.m3u8', protocol: 'hls' },
  region: 'eu',
  agentId: 'a1',
  probe: 'stream',
  mode: 'watch',
  startedAt: new Date(Date.now() - 2000).toISOString(),
  endedAt: new Date().toISOString(),
  outcome: 'ok',
  reasons: [],
  metrics: {},
  segments: [],
  errors: [],
  findings: [],
  version: 't',
  ...over,
});

describe('evidence', () => {
  it('picks recent reports that show what the rule looks for, newest first', () => {
    const r = new RecentReports();
    const stale = {
      code: 'playlist-stale' as const,
      severity: 'critical' as const,
      variant: 'v',
      at: 1,
      count: 1,
      evidence: 'e',
    };
    r.add(report('w:1', { findings: [stale] }));
    for (let i = 2; i < 12; i++) r.add(report(`w:${i}`));
    r.add(report('w:12', { outcome: 'failed', metrics: { errors_http: 2 } }));
    r.add(report('w:0', { seq: 0, findings: [stale] })); // a watch summary: ignored
    expect(r.sample(rule(), 'ch1', 'eu')).toEqual(['w:1']);
    expect(
      r.sample(rule({ finding: undefined, metric: 'success_ratio', agg: 'ratio' }), 'ch1', 'eu'),
    ).toEqual(['w:12']);
    expect(r.sample(rule({ finding: undefined, metric: 'errors_http', agg: 'count' }), 'ch1', 'eu')).toEqual([
      'w:12',
    ]);
    expect(r.sample(rule(), 'ch1', 'us')).toEqual([]);
    r.evict(Date.now() + 2 * 3_600_000);
    expect(r.size).toBe(0);
  });

  it('samples a figure rule by the reports that had the figure, newest first, as the ring wraps', () => {
    const r = new RecentReports();
    const startup = rule({ finding: undefined, metric: 'startup_ms', agg: 'p95' });
    const rebuffer = rule({ finding: undefined, metric: 'rebuffer_ratio', agg: 'ratio' });
    // Ten reports into a ring of four: the slots are written again in place, twice over.
    for (let i = 1; i <= 10; i++) {
      r.add(report(`w:${i}`, { metrics: i % 2 ? { startup_ms: 900 + i } : { rebuffer_ratio: 0.1 } }));
    }
    expect(r.sample(startup, 'ch1', 'eu')).toEqual(['w:9', 'w:7']);
    expect(r.sample(rebuffer, 'ch1', 'eu')).toEqual(['w:10', 'w:8']);
    expect(r.sample(rule({ finding: undefined, metric: 'reports', agg: 'count' }), 'ch1', 'eu')).toEqual([
      'w:10',
      'w:9',
      'w:8',
    ]);
    // A problem report keeps its own errors; the healthy ones after it do not displace it.
    r.add(report('w:11', { outcome: 'degraded', metrics: { errors_network: 1, startup_ms: 5000 } }));
    for (let i = 12; i <= 20; i++) r.add(report(`w:${i}`, { metrics: { startup_ms: 900 } }));
    expect(
      r.sample(rule({ finding: undefined, metric: 'errors_network', agg: 'count' }), 'ch1', 'eu'),
    ).toEqual(['w:11']);
    expect(r.sample(startup, 'ch1', 'eu')).toEqual(['w:20', 'w:19', 'w:18']);
  });
});

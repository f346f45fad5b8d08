import { describe, expect, it } from 'vitest';
import type { Report } from '../../shared/schemas.js';
import { Aggregator, BUCKET_MS } from './aggregator.js';

let clock = Date.UTC(2026, 10, 27, 12, 0, 0);
const now = () => clock;

function report(
  over: Partial<Report> & { metrics?: Report['metrics']; ageMs?: number; durationMs?: number },
): Report {
  const end = clock - (over.ageMs ?? 0);
  const { ageMs: _a, durationMs = 15_000, ...rest } = over;
  return {
    id: `r${Math.random()}`,
    jobId: 'j',
    seq: 0,
    target: { id: 't1', url: 'http://o/x.m3u8', protocol: 'hls' },
    region: 'eu',
    agentId: 'a1',
    probe: 'browser',
    mode: 'check',
    startedAt: new Date(end - durationMs).toISOString(),
    endedAt: new Date(end).toISOString(),
    outcome: 'ok',
    reasons: [],
    metrics: {},
    segments: [],
    errors: [],
    findings: [],
    version: 't',
    ...rest,
  };
}

describe('Aggregator', () => {
  it('computes quantiles within 1% of the exact values', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    const values = Array.from({ length: 1000 }, (_, i) => 100 + i * 7);
    for (const v of values) agg.add(report({ metrics: { startup_ms: v } }));
    const [g] = agg.summary({ window: '5m', groupBy: 'target' });
    const exact = (q: number) => values[Math.ceil(q * values.length) - 1] as number;
    for (const [q, key] of [
      [0.5, 'p50'],
      [0.95, 'p95'],
      [0.99, 'p99'],
    ] as const) {
      const got = g?.metrics.startup_ms?.[key] as number;
      expect(Math.abs(got - exact(q)) / exact(q)).toBeLessThanOrEqual(0.011);
    }
    expect(g?.metrics.startup_ms?.count).toBe(1000);
  });

  it('keeps windows apart and groups by region, target or probe', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(report({ region: 'eu', metrics: { g2g_p50_ms: 4000 } }));
    agg.add(report({ region: 'us', metrics: { g2g_p50_ms: 6000 }, ageMs: 4 * 60_000 }));
    agg.add(report({ region: 'us', probe: 'stream', outcome: 'failed', ageMs: 30 * 60_000 }));
    const m1 = agg.summary({ window: '1m', groupBy: 'region' });
    expect(m1.map((g) => g.key)).toEqual(['eu']);
    const m5 = agg.summary({ window: '5m', groupBy: 'region' });
    expect(m5.map((g) => [g.key, g.count])).toEqual([
      ['eu', 1],
      ['us', 1],
    ]);
    const h1 = agg.summary({ window: '1h', groupBy: 'probe' });
    expect(h1.map((g) => [g.key, g.count])).toEqual([
      ['browser', 2],
      ['stream', 1],
    ]);
    expect(agg.summary({ window: '1h', groupBy: 'region', region: 'us', probe: 'browser' })).toHaveLength(1);
  });

  it('excludes probe-errors from the success ratio and weights rebuffering by duration', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(report({ outcome: 'ok', metrics: { rebuffer_ratio: 0, errors_http: 2 }, durationMs: 30_000 }));
    agg.add(report({ outcome: 'failed', metrics: { rebuffer_ratio: 0.5 }, durationMs: 10_000 }));
    agg.add(report({ outcome: 'probe-error' }));
    const [g] = agg.summary({ window: '1m', groupBy: 'target' });
    expect(g?.success_ratio).toBe(0.5);
    expect(g?.outcomes).toEqual({ ok: 1, degraded: 0, failed: 1, 'probe-error': 1 });
    expect(g?.rebuffer_ratio).toBe(0.125);
    expect(g?.errors.http).toBe(2);
  });

  it('counts conformance findings by code', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    const finding = (code: 'playlist-stale' | 'http-status', count: number) => ({
      code,
      severity: 'critical' as const,
      variant: 'v1',
      at: clock,
      count,
      evidence: '',
    });
    agg.add(report({ probe: 'stream', findings: [finding('playlist-stale', 3), finding('http-status', 1)] }));
    agg.add(report({ probe: 'stream', findings: [finding('playlist-stale', 2)] }));
    const [g] = agg.summary({ window: '1m', groupBy: 'probe' });
    expect(g?.findings).toEqual({ 'playlist-stale': 5, 'http-status': 1 });
  });

  it('evicts idle series after the hour and ignores reports older than that', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(report({ metrics: { startup_ms: 500 } }));
    agg.add(report({ target: { id: 'old', url: 'http://o/y', protocol: 'hls' }, ageMs: 2 * 3600_000 }));
    expect(agg.size).toBe(1);
    clock += 3600_000 + BUCKET_MS;
    expect(agg.evict()).toEqual([{ target: 't1', region: 'eu', probe: 'browser' }]);
    expect(agg.size).toBe(0);
  });

  it('clamps negative latencies (clock skew) to zero instead of losing them', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(report({ metrics: { g2g_p50_ms: -30 } }));
    agg.add(report({ metrics: { g2g_p50_ms: 100 } }));
    const [g] = agg.summary({ window: '1m', groupBy: 'target' });
    expect(g?.metrics.g2g_p50_ms?.count).toBe(2);
    expect(g?.metrics.g2g_p50_ms?.p50).toBe(0);
  });

  it('findings and figures of probe-error (inconclusive) reports never reach a stream series', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    const stale = {
      code: 'playlist-stale' as const,
      severity: 'critical' as const,
      variant: '360p',
      at: clock,
      count: 1,
      evidence: 'x',
    };
    agg.add(
      report({
        probe: 'stream',
        outcome: 'probe-error',
        flags: ['inconclusive'],
        findings: [stale],
        metrics: { segment_download_p50_ms: 9000 },
      }),
    );
    agg.add(report({ probe: 'stream', outcome: 'ok', metrics: { segment_download_p50_ms: 40 } }));
    const [g] = agg.summary({ window: '1m', groupBy: 'target' });
    expect(g?.outcomes['probe-error']).toBe(1);
    expect(g?.findings).toEqual({});
    expect(g?.metrics.segment_download_p50_ms?.count).toBe(1);
    expect(g?.metrics.segment_download_p50_ms?.p95).toBeLessThan(41);
  });

  it('a clock-suspect report keeps its timings but not its clock-dependent figures', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(
      report({
        flags: ['clock-suspect'],
        metrics: { g2g_p50_ms: 9000, pdt_latency_p50_ms: 9000, segment_ttfb_p50_ms: 20 },
      }),
    );
    agg.add(report({ metrics: { g2g_p50_ms: 3000 } }));
    const [g] = agg.summary({ window: '1m', groupBy: 'target' });
    expect(g?.metrics.g2g_p50_ms?.count).toBe(1);
    expect(g?.metrics.pdt_latency_p50_ms).toBeUndefined();
    expect(g?.metrics.segment_ttfb_p50_ms?.count).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeSketch, encodeSketch, sketchesOf, sketchOf } from '../../shared/sample-sketch.js';
import type { Report } from '../../shared/schemas.js';
import { Aggregator, BUCKET_MS, metricMask, SKETCHED } from './aggregator.js';
import { acceptClamped, newSketch, quantiles } from './sketch.js';

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
  it('a series bucket of keys answers the quantiles its values would, before and past becoming sketches', () => {
    // 9 figures a report: 10 reports stay keys in their 15 s bucket (90 of KEYS_MAX 128), 20 become sketches.
    const figures = [
      'startup_ms',
      'manifest_ms',
      'first_segment_ms',
      'segment_ttfb_p50_ms',
      'g2g_p50_ms',
    ] as const;
    for (const reports of [10, 20]) {
      const agg = new Aggregator({ now, cacheMs: 0 });
      const direct = new Map(figures.map((f) => [f, newSketch()]));
      for (let i = 0; i < reports; i++) {
        const metrics: Report['metrics'] = {};
        figures.forEach((f, k) => {
          // Zeros, sub-millisecond and large values: every kind of key, and the zero bucket.
          const v = i % 4 === 0 ? 0 : (k + 1) * 10 ** ((i % 7) - 2) * (1 + i / 3);
          metrics[f] = v;
          acceptClamped(direct.get(f) as ReturnType<typeof newSketch>, v);
        });
        metrics.stall_ms = 0;
        metrics.pdt_latency_p50_ms = 4000 + i;
        metrics.segment_download_p50_ms = 40 + i;
        metrics.segment_throughput_p50_kbps = 18_000;
        agg.add(report({ probe: 'stream', metrics }));
      }
      // Region-filtered: answered from the series itself, not from a rollup.
      const [g] = agg.summary({ window: '1m', groupBy: 'target', region: 'eu' });
      for (const f of figures)
        expect(g?.metrics[f]).toEqual({
          ...quantiles(direct.get(f) as ReturnType<typeof newSketch>),
          of: 'reports',
        });
      expect(g?.metrics.stall_ms?.count).toBe(reports);
      expect(Object.keys(g?.metrics ?? {}).every((m) => (SKETCHED as readonly string[]).includes(m))).toBe(
        true,
      );
    }
  });

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

  it('unfiltered groupings (read from the rollups) equal the same groups merged from the series', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    const targets = ['t1', 't2', 't3'];
    const regions = ['eu', 'us', 'ap'];
    let i = 0;
    for (const t of targets) {
      for (const region of regions) {
        for (let k = 0; k < 5; k++, i++) {
          agg.add(
            report({
              target: { id: t, url: `http://o/${t}.m3u8`, protocol: 'hls' },
              region,
              probe: i % 3 ? 'stream' : 'browser',
              outcome: i % 7 ? 'ok' : 'failed',
              ageMs: (i * 37_000) % (50 * 60_000),
              metrics: { startup_ms: 300 + ((i * 97) % 900), errors_http: i % 4 },
              sketches: sketchesOf({ segment_ttfb_ms: [10 + (i % 9), 20 + (i % 13)] }),
            }),
          );
        }
      }
    }
    for (const window of ['1m', '5m', '1h'] as const) {
      // A one-target (or one-region, one-probe) query reads that target's series, not a rollup.
      const fromSeries = targets.flatMap((t) => agg.summary({ window, groupBy: 'target', target: t }));
      expect(agg.summary({ window, groupBy: 'target' })).toEqual(fromSeries);
      const byRegion = regions.flatMap((r) => agg.summary({ window, groupBy: 'region', region: r }));
      expect(agg.summary({ window, groupBy: 'region' })).toEqual(
        byRegion.sort((a, b) => a.key.localeCompare(b.key)),
      );
    }
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

  it('p95 of samples (merged report sketches) vs p95 of per-report medians, on known data', () => {
    // Ten reports of 100 segment downloads each: 90 at 100 ms and a slow tail of 10 at 2000 ms. Every report's
    // median is 100 ms, so a p95 of medians says 100 ms; a viewer waited 2000 ms for 10 % of the segments.
    const samples = [...Array.from({ length: 90 }, () => 100), ...Array.from({ length: 10 }, () => 2000)];
    const wire = sketchesOf({ segment_download_ms: samples });
    expect(wire?.segment_download_ms).toBeDefined();
    const withSketches = new Aggregator({ now, cacheMs: 0 });
    const medians = new Aggregator({ now, cacheMs: 0 });
    for (let i = 0; i < 10; i++) {
      const metrics = { segment_download_p50_ms: 100, segments_total: 100 };
      withSketches.add(report({ probe: 'stream', metrics, sketches: wire }));
      medians.add(report({ probe: 'stream', metrics }));
    }
    const [g] = withSketches.summary({ window: '1m', groupBy: 'target' });
    const dl = g?.metrics.segment_download_p50_ms;
    expect(dl?.of).toBe('samples');
    expect(dl?.count).toBe(1000);
    expect(dl?.p95).toBeGreaterThanOrEqual(2000 * 0.99);
    expect(dl?.p95).toBeLessThanOrEqual(2000 * 1.01);
    expect(dl?.p50).toBeLessThanOrEqual(101);
    expect(g?.sums?.segments_total).toBe(1000);

    const [h] = medians.summary({ window: '1m', groupBy: 'target' });
    expect(h?.metrics.segment_download_p50_ms?.of).toBe('reports');
    expect(h?.metrics.segment_download_p50_ms?.count).toBe(10);
    expect(h?.metrics.segment_download_p50_ms?.p95).toBeLessThanOrEqual(101);

    // One report without samples: the group cannot claim a p95 of samples and says so.
    withSketches.add(report({ probe: 'stream', metrics: { segment_download_p50_ms: 100 } }));
    const [m] = withSketches.summary({ window: '1m', groupBy: 'target' });
    expect(m?.metrics.segment_download_p50_ms?.of).toBe('reports');
    expect(m?.metrics.segment_download_p50_ms?.count).toBe(11);
  });

  it('a metric mask computes only those quantiles, each equal to the full summary', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    const wire = sketchesOf({ segment_download_ms: [100, 200, 300, 4000] });
    // Enough reports for the buckets to move from raw pairs to sketches, and samples on the way.
    for (let i = 0; i < 300; i++)
      agg.add(
        report({
          region: i % 2 ? 'eu' : 'us',
          metrics: { startup_ms: 500 + i, manifest_ms: 20 + (i % 7), segment_download_p50_ms: 150 + i },
          sketches: wire,
        }),
      );
    const q = { window: '5m', groupBy: 'region', target: 't1' } as const;
    const full = agg.summary(q);
    const only = agg.summary(q, metricMask(['startup_ms', 'segment_download_p50_ms', 'reports']));
    expect(only.map((g) => g.key)).toEqual(['eu', 'us']);
    for (const [i, g] of only.entries()) {
      const f = full[i];
      expect(Object.keys(g.metrics).sort()).toEqual(['segment_download_p50_ms', 'startup_ms']);
      expect(Object.keys(f?.metrics ?? {})).toContain('manifest_ms');
      expect(g.metrics.startup_ms).toEqual(f?.metrics.startup_ms);
      expect(g.metrics.segment_download_p50_ms).toEqual(f?.metrics.segment_download_p50_ms);
      expect(g.metrics.segment_download_p50_ms?.of).toBe('samples');
      // Everything that is not a quantile is the same.
      expect({ ...g, metrics: undefined }).toEqual({ ...f, metrics: undefined });
    }
    expect(agg.summary(q, metricMask([]))[0]?.metrics).toEqual({});
  });

  it('sums frozen and black time and frames over reports; a malformed sketch falls back to reports', () => {
    const agg = new Aggregator({ now, cacheMs: 0 });
    agg.add(report({ metrics: { frozen_ms: 1200, black_ms: 300, dropped_frames: 4, total_frames: 600 } }));
    agg.add(
      report({ metrics: { frozen_ms: 800, dropped_frames: 1, total_frames: 590, clock_skew_negative: 2 } }),
    );
    agg.add(report({ metrics: { g2g_p50_ms: 3000 }, sketches: { g2g_ms: 'AAAA' } }));
    const [g] = agg.summary({ window: '1m', groupBy: 'target' });
    expect(g?.sums).toEqual({
      frozen_ms: 2000,
      black_ms: 300,
      dropped_frames: 5,
      total_frames: 1190,
      segments_total: 0,
      clock_skew_negative: 2,
    });
    expect(g?.metrics.g2g_p50_ms?.of).toBe('reports');
  });
});

describe('sample sketch wire form', () => {
  it('round-trips quantiles, count, min, max; refuses malformed input and oversize sketches', () => {
    const values = Array.from({ length: 500 }, (_, i) => 3000 + ((i * 37) % 800));
    const s = sketchOf(values);
    const wire = s && encodeSketch(s);
    expect(wire).toBeDefined();
    const back = decodeSketch(wire as string);
    expect(back.count).toBe(500);
    expect(back.min).toBe(3000);
    expect(back.max).toBe(Math.max(...values));
    expect(back.getValueAtQuantile(0.95)).toBe(s?.getValueAtQuantile(0.95));
    expect(() => decodeSketch('AAAA')).toThrow();
    expect(() => decodeSketch(`${wire}AA`)).toThrow();
    // Values over 36 decades at 1 % accuracy span more bins than the wire form takes.
    const wide = sketchOf(Array.from({ length: 2200 }, (_, i) => 1.04 ** i));
    expect(wide && encodeSketch(wide)).toBeUndefined();
  });
});

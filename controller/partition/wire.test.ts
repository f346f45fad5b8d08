import { describe, expect, it } from 'vitest';
import { Aggregator, emptyBucket, finish, mergeInto } from '../aggregate/aggregator.js';
import { acceptClamped, newSketch, quantiles } from '../aggregate/sketch.js';
import { bucketIn, bucketOut, WireBucket } from './wire.js';

describe('wire buckets', () => {
  it('carries a sketch of zeros only (no store bins in use) through JSON', () => {
    const b = emptyBucket(0);
    const zeros = newSketch();
    for (let i = 0; i < 5; i++) acceptClamped(zeros, 0);
    const mixed = newSketch();
    for (const v of [0, 120, 4000]) acceptClamped(mixed, v);
    b.sketches = [zeros, mixed];
    b.count = 5;
    const wire = WireBucket.parse(JSON.parse(JSON.stringify(bucketOut(b))));
    const back = bucketIn(wire);
    expect(quantiles(back.sketches?.[0] as never)).toEqual(quantiles(zeros));
    expect(quantiles(back.sketches?.[1] as never)).toEqual(quantiles(mixed));
  });

  it('carries a raw bucket (figures not yet in sketches) to the same summary', () => {
    const now = Date.parse('2026-12-05T02:00:00Z');
    const agg = new Aggregator({ now: () => now, cacheMs: 0 });
    for (const startup_ms of [300, 450, 800]) {
      agg.add({
        id: `r${startup_ms}`,
        jobId: 'j',
        target: { id: 't', url: 'http://o/t.m3u8', protocol: 'hls' },
        region: 'eu',
        agentId: 'a',
        probe: 'stream',
        mode: 'check',
        startedAt: new Date(now - 2000).toISOString(),
        endedAt: new Date(now - 1000).toISOString(),
        outcome: 'ok',
        reasons: [],
        metrics: { startup_ms },
        errors: [],
        findings: [],
        version: 't',
      } as never);
    }
    const bucket = (
      agg as unknown as { series: Map<string, { buckets: ReturnType<typeof emptyBucket>[] }> }
    ).series
      .values()
      .next().value?.buckets[0];
    if (!bucket?.keys) throw new Error('expected a bucket of keys');
    const wire = WireBucket.parse(JSON.parse(JSON.stringify(bucketOut(bucket))));
    expect(wire.raw).toHaveLength(6);
    const back = bucketIn(wire);
    const one = (b: ReturnType<typeof emptyBucket>) => {
      const into = emptyBucket(0);
      mergeInto(into, b);
      return finish(new Map([['k', into]]))[0]?.metrics.startup_ms;
    };
    expect(one(back)).toEqual(one(bucket));
    expect(one(back)?.count).toBe(3);
  });

  it("reads a replica's raw values from before keys (a rolling upgrade) into the same quantiles", () => {
    // (metric index, value) pairs as the previous version sent them: startup_ms is index 0, stall_ms 10.
    const values = [0, 0.4, 7, 300, 450, 812.3, 4100, 1e9];
    const raw = [...values.flatMap((v) => [0, v]), 10, 0, 99, 5, 1.5, 5];
    const back = bucketIn(WireBucket.parse({ c: [values.length, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], raw }));
    const into = emptyBucket(0);
    mergeInto(into, back);
    const direct = newSketch();
    for (const v of values) acceptClamped(direct, v);
    expect(quantiles(into.sketches?.[0] as never)).toEqual(quantiles(direct));
    expect(into.sketches?.[10]?.zeroCount).toBe(1);
    // An index naming no sketched metric (99, 1.5) is left out, not folded into another metric.
    expect(back.keys).toHaveLength(values.length + 1);
  });
});

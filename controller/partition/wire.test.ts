import { describe, expect, it } from 'vitest';
import { emptyBucket } from '../aggregate/aggregator.js';
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
});

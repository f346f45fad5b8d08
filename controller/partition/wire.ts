import type { DDSketch } from '@datadog/sketches-js';
import { z } from 'zod';
import { type Bucket, emptyBucket, SKETCHED } from '../aggregate/aggregator.js';
import { codeOf, keyOf, keyOfCode, metricOfCode, newSketch, valueOfKey } from '../aggregate/sketch.js';

/**
 * Window accumulators on the wire between replicas. A DDSketch travels as its positive store's bins (all
 * sketches share one mapping and clamp values at 0: controller/aggregate/sketch.ts), so the receiver
 * rebuilds a sketch that merges and answers quantiles exactly like the sender's.
 */
const WireSketch = z.object({
  z: z.number(),
  n: z.number(),
  s: z.number(),
  lo: z.number(),
  hi: z.number(),
  o: z.number().int(),
  b: z.array(z.number()),
});
type WireSketch = z.infer<typeof WireSketch>;

export const WireBucket = z.object({
  c: z.array(z.number()).length(11),
  raw: z.array(z.number()).optional(),
  sk: z.array(WireSketch.nullable()).optional(),
  f: z.record(z.string(), z.number()).optional(),
  /** Sample sketches, reports without samples (per SKETCHED index), and the sums (#18: of samples). */
  sm: z.array(WireSketch.nullable()).optional(),
  us: z.array(z.number().nullable()).optional(),
  su: z.array(z.number()).length(6).optional(),
});
export type WireBucket = z.infer<typeof WireBucket>;

interface DenseStoreLike {
  bins: number[];
  offset: number;
  minKey: number;
  maxKey: number;
  add(key: number, weight?: number): void;
}

function sketchOut(s: DDSketch): WireSketch {
  const store = s.store as unknown as DenseStoreLike;
  // Only the bins between minKey and maxKey are in use. A sketch of zeros only (stall_ms: 0) has none:
  // its keys are ±Infinity, which JSON would send as null.
  const empty = !(store.minKey <= store.maxKey);
  const from = empty ? 0 : Math.max(0, store.minKey - store.offset);
  const to = empty ? 0 : Math.min(store.bins.length, store.maxKey - store.offset + 1);
  return {
    z: s.zeroCount,
    n: s.count,
    s: s.sum,
    lo: Number.isFinite(s.min) ? s.min : 0,
    hi: Number.isFinite(s.max) ? s.max : 0,
    o: empty ? 0 : store.offset + from,
    b: to > from ? store.bins.slice(from, to) : [],
  };
}

function sketchIn(w: WireSketch): DDSketch {
  const s = newSketch();
  const store = s.store as unknown as DenseStoreLike;
  w.b.forEach((count, i) => {
    if (count > 0) store.add(w.o + i, count);
  });
  s.zeroCount = w.z;
  s.count = w.n;
  s.sum = w.s;
  s.min = w.n ? w.lo : Number.POSITIVE_INFINITY;
  s.max = w.n ? w.hi : Number.NEGATIVE_INFINITY;
  return s;
}

/**
 * A bucket's keys travel as (metric index, value) pairs, as raw values did before keys: a value inside
 * each key's bin, which keyOf maps back to the same key, so a replica of either kind reads them exactly.
 */
function rawOf(keys: number[]): number[] {
  const out = new Array<number>(keys.length * 2);
  for (let j = 0; j < keys.length; j++) {
    const code = keys[j] as number;
    out[j * 2] = metricOfCode(code);
    out[j * 2 + 1] = valueOfKey(keyOfCode(code));
  }
  return out;
}

/** Raw pairs back to keys; a pair naming no sketched metric is left out. */
function keysOf(raw: number[]): number[] {
  const out: number[] = [];
  for (let j = 0; j + 1 < raw.length; j += 2) {
    const i = raw[j] as number;
    if (Number.isInteger(i) && i >= 0 && i < SKETCHED.length)
      out.push(codeOf(i, keyOf(raw[j + 1] as number)));
  }
  return out;
}

export function bucketOut(b: Bucket): WireBucket {
  return {
    c: [
      b.count,
      b.ok,
      b.degraded,
      b.failed,
      b.probeError,
      b.errorsHttp,
      b.errorsNetwork,
      b.errorsPlayer,
      b.errorsConformance,
      b.rebufferWeighted,
      b.rebufferDurationMs,
    ],
    ...(b.keys ? { raw: rawOf(b.keys) } : {}),
    ...(b.sketches ? { sk: Array.from(b.sketches, (s) => (s && s.count > 0 ? sketchOut(s) : null)) } : {}),
    ...(b.findings ? { f: b.findings as Record<string, number> } : {}),
    ...(b.samples ? { sm: Array.from(b.samples, (s) => (s && s.count > 0 ? sketchOut(s) : null)) } : {}),
    ...(b.unsampled ? { us: Array.from(b.unsampled, (n) => n ?? null) } : {}),
    su: [b.frozenMs, b.blackMs, b.droppedFrames, b.totalFrames, b.segmentsTotal, b.clockSkewNegative],
  };
}

export function bucketIn(w: WireBucket): Bucket {
  const b = emptyBucket(0);
  const c = w.c;
  b.count = c[0] ?? 0;
  b.ok = c[1] ?? 0;
  b.degraded = c[2] ?? 0;
  b.failed = c[3] ?? 0;
  b.probeError = c[4] ?? 0;
  b.errorsHttp = c[5] ?? 0;
  b.errorsNetwork = c[6] ?? 0;
  b.errorsPlayer = c[7] ?? 0;
  b.errorsConformance = c[8] ?? 0;
  b.rebufferWeighted = c[9] ?? 0;
  b.rebufferDurationMs = c[10] ?? 0;
  if (w.raw) b.keys = keysOf(w.raw);
  if (w.sk) b.sketches = w.sk.map((s) => (s ? sketchIn(s) : undefined));
  if (w.f) b.findings = w.f as Bucket['findings'];
  if (w.sm) b.samples = w.sm.map((s) => (s ? sketchIn(s) : undefined));
  if (w.us) b.unsampled = w.us.map((n) => n ?? 0);
  if (w.su) {
    [b.frozenMs, b.blackMs, b.droppedFrames, b.totalFrames, b.segmentsTotal, b.clockSkewNegative] = w.su as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
  }
  return b;
}

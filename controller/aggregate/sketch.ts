import { DDSketch } from '@datadog/sketches-js';
import { DenseStore } from '@datadog/sketches-js/dist/ddsketch/store/index.js';

/** 1% relative error on every quantile: p95 of 4000 ms is reported within 3960-4040 ms. */
export const RELATIVE_ACCURACY = 0.01;

const template = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
const sharedMapping = template.mapping;
/**
 * Latency-like values are clamped at 0 before they reach a sketch (a negative latency is clock skew, and
 * the library's merge ignores negative stores), so every sketch can share one empty negative store.
 */
const sharedEmptyNegative = template.negativeStore;

/**
 * A DDSketch sized for many small series: the mapping is shared and the store grows 8 bins at a time
 * instead of 128, which takes a one-value sketch from ~2.2 KB to ~150 bytes. Sketches stay mergeable
 * because they share the mapping's gamma.
 */
export function newSketch(): DDSketch {
  const s = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
  s.mapping = sharedMapping;
  s.store = new DenseStore(8);
  s.negativeStore = sharedEmptyNegative;
  return s;
}

export function acceptClamped(s: DDSketch, value: number): void {
  s.accept(Math.max(value, 0));
}

/**
 * The store key of a value clamped at 0, or NaN for the zero bucket: a report's figure goes into three
 * buckets' sketches (its series and three rollups), so ingest computes its logarithm once (acceptKeyed).
 */
export function keyOf(value: number): number {
  const v = Math.max(value, 0);
  return v > sharedMapping.minPossible ? sharedMapping.key(v) : Number.NaN;
}

/** acceptClamped(s, value) with the key already computed by keyOf(value): the same sketch afterwards. */
export function acceptKeyed(s: DDSketch, value: number, key: number): void {
  const v = Math.max(value, 0);
  if (Number.isNaN(key)) s.zeroCount += 1;
  else s.store.add(key, 1);
  s.count += 1;
  s.sum += v;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
}

export function quantiles(s: DDSketch): { p50: number; p95: number; p99: number; count: number } {
  const r = (q: number) => Math.round(s.getValueAtQuantile(q) * 100) / 100;
  return { p50: r(0.5), p95: r(0.95), p99: r(0.99), count: s.count };
}

/**
 * A value's metric index and sketch key packed in one small integer (a Smi: 8 bytes in an array, no
 * allocation): what a series' bucket keeps per value until it has enough for sketches (aggregator.ts).
 * keyOf gives keys within about ±35 500 at 1 % accuracy (any finite value above the mapping's smallest);
 * the key sits in the low 17 bits, offset to be positive, and 0 stands for the zero bucket.
 */
const KEY_BITS = 17;
const KEY_MASK = (1 << KEY_BITS) - 1;
const KEY_OFFSET = 36_000;

export function codeOf(metric: number, key: number): number {
  if (Number.isNaN(key)) return metric << KEY_BITS;
  // Out of range only for a value no finite double gives; clamped rather than wrapped into another metric.
  const k = Math.min(Math.max(key + KEY_OFFSET, 1), KEY_MASK);
  return (metric << KEY_BITS) | k;
}

export const metricOfCode = (code: number): number => code >> KEY_BITS;

/** The key a code holds, NaN for the zero bucket (as keyOf). */
export function keyOfCode(code: number): number {
  const k = code & KEY_MASK;
  return k === 0 ? Number.NaN : k - KEY_OFFSET;
}

/**
 * The value a key stands for: inside its bin (keyOf gives the key back), 0 for the zero bucket. What a
 * sketch's sum, min and max get for a value known only by its key, and what travels as a raw value.
 */
export function valueOfKey(key: number): number {
  // The top keys' middles are past the largest double: the largest double is in that bin too.
  return Number.isNaN(key) ? 0 : Math.min(sharedMapping.value(key), Number.MAX_VALUE);
}

/** Adds a coded value to a sketch: the same bin as acceptClamped of the value it came from. */
export function acceptCode(s: DDSketch, code: number): void {
  const key = keyOfCode(code);
  acceptKeyed(s, valueOfKey(key), key);
}

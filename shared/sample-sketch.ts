/**
 * Mergeable quantile sketches of a report's raw samples (DDSketch, @datadog/sketches-js) and their compact
 * wire form. A report carries one per sample kind (every segment's download time, every decoded frame's
 * glass-to-glass...); the controller merges them, so a p95 across reports is a p95 of the samples, not a p95
 * of per-report medians.
 *
 * Wire form (base64): the library's own protobuf form needs protobufjs, an optional dependency we do not
 * ship, and carries the mapping, which is fixed fleet-wide here (1 % relative accuracy) — so a small varint
 * encoding of the positive store is enough: version, zero count, first key, bin counts, then min, max, sum.
 * Values <= 0 (a clock-corrected latency can be negative: skew, counted apart as clock_skew_negative) go to
 * the zero bucket, as in the controller's own sketches.
 */
import { DDSketch } from '@datadog/sketches-js';
import { MAX_SKETCH_CHARS, type SampleName, type SampleSketches } from './schemas.js';

/** Same accuracy as the controller's series sketches (controller/aggregate/sketch.ts): they merge. */
export const SAMPLE_SKETCH_ACCURACY = 0.01;
const VERSION = 1;
/** Bins a sketch may span on the wire (1 % accuracy: ~1150 bins cover 1 µs .. 10^4 s). */
const MAX_BINS = 2048;

export function newSampleSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SAMPLE_SKETCH_ACCURACY });
}

/** A sketch of the values (negatives to the zero bucket); undefined for no finite value. */
export function sketchOf(values: Iterable<number>): DDSketch | undefined {
  const s = newSampleSketch();
  for (const v of values) if (Number.isFinite(v)) s.accept(Math.max(0, v));
  return s.count > 0 ? s : undefined;
}

interface StoreView {
  bins: number[];
  offset: number;
  minKey: number;
  maxKey: number;
  count: number;
}

class Writer {
  private readonly bytes: number[] = [];
  varint(n: number): void {
    let v = Math.floor(n);
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }
  zigzag(n: number): void {
    this.varint(n < 0 ? -2 * n - 1 : 2 * n);
  }
  float(x: number): void {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    this.bytes.push(...b);
  }
  base64(): string {
    return Buffer.from(this.bytes).toString('base64');
  }
}

class Reader {
  private i = 0;
  constructor(private readonly b: Buffer) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 8; n++) {
      const byte = this.b[this.i++];
      if (byte === undefined) throw new Error('truncated');
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 0x80;
    }
    throw new Error('varint too long');
  }
  zigzag(): number {
    const v = this.varint();
    return v % 2 ? -(v + 1) / 2 : v / 2;
  }
  float(): number {
    if (this.i + 8 > this.b.length) throw new Error('truncated');
    const x = this.b.readDoubleLE(this.i);
    this.i += 8;
    return x;
  }
  get done(): boolean {
    return this.i === this.b.length;
  }
}

/** The wire form, or undefined when it would exceed MAX_SKETCH_CHARS (the report then carries none). */
export function encodeSketch(s: DDSketch): string | undefined {
  const store = s.store as unknown as StoreView;
  const w = new Writer();
  w.varint(VERSION);
  w.varint(s.zeroCount);
  const empty = store.count === 0 || !Number.isFinite(store.minKey);
  w.zigzag(empty ? 0 : store.minKey);
  const n = empty ? 0 : store.maxKey - store.minKey + 1;
  if (n > MAX_BINS) return undefined;
  w.varint(n);
  for (let k = 0; k < n; k++) w.varint(store.bins[store.minKey + k - store.offset] ?? 0);
  w.float(s.count ? s.min : 0);
  w.float(s.count ? s.max : 0);
  w.float(s.sum);
  const out = w.base64();
  return out.length <= MAX_SKETCH_CHARS ? out : undefined;
}

/** A sketch from its wire form; throws on anything malformed (network input). */
export function decodeSketch(b64: string): DDSketch {
  const r = new Reader(Buffer.from(b64, 'base64'));
  if (r.varint() !== VERSION) throw new Error('unknown sketch version');
  const s = newSampleSketch();
  const zero = r.varint();
  const minKey = r.zigzag();
  const n = r.varint();
  if (n > MAX_BINS || Math.abs(minKey) > 100_000) throw new Error('sketch out of range');
  let total = zero;
  for (let k = 0; k < n; k++) {
    const c = r.varint();
    if (c > 0) s.store.add(minKey + k, c);
    total += c;
  }
  s.zeroCount = zero;
  s.count = total;
  s.min = r.float();
  s.max = r.float();
  s.sum = r.float();
  if (!r.done) throw new Error('trailing bytes');
  if (![s.min, s.max, s.sum].every(Number.isFinite)) throw new Error('non-finite summary');
  return s;
}

/** The report field: a sketch per sample kind that has samples and fits the size bound. */
export function sketchesOf(
  samples: Partial<Record<SampleName, Iterable<number> | DDSketch>>,
): SampleSketches | undefined {
  const out: SampleSketches = {};
  for (const [name, values] of Object.entries(samples) as [SampleName, Iterable<number> | DDSketch][]) {
    const s = values instanceof DDSketch ? values : sketchOf(values);
    if (!s || s.count === 0) continue;
    const wire = encodeSketch(s);
    if (wire) out[name] = wire;
  }
  return Object.keys(out).length ? out : undefined;
}

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

/**
 * A wire sketch decoded into reusable storage, for the controller's ingest: a report's sketches are decoded
 * once and added into four buckets' sketches, tens of thousands of times a second. decodeSketch builds a
 * DDSketch per report (its 128-bin store re-centred as bins arrive) only to merge it and drop it; this reads
 * the same wire form into a scratch array and adds the counts straight into the target sketch's store, with
 * exactly the result of `target.merge(decodeSketch(wire))` (sample-sketch.test.ts checks both on a corpus).
 */
export class SketchScratch {
  zeroCount = 0;
  /** zeroCount + every bin, summed in wire order (as decodeSketch's count). */
  count = 0;
  min = 0;
  max = 0;
  sum = 0;
  /** Bin counts from `firstKey` on; the first and last keys with a count above 0 (none: lastKey < firstKey). */
  readonly bins = new Float64Array(MAX_BINS);
  firstKey = 0;
  lastKey = -1;
  /** Σ of the bins (the positive store's count). */
  private binTotal = 0;
  private readonly bytes = Buffer.alloc(Math.ceil((MAX_SKETCH_CHARS * 3) / 4) + 3);
  private at = 0;
  private len = 0;

  /** Reads a wire sketch; false for anything decodeSketch would throw on (the scratch is then unusable). */
  read(b64: string): boolean {
    if (b64.length > MAX_SKETCH_CHARS) {
      // Longer than any valid report carries: the allocating path, which has the same rules.
      try {
        return this.copyFrom(decodeSketch(b64));
      } catch {
        return false;
      }
    }
    this.len = this.bytes.write(b64, 'base64');
    this.at = 0;
    if (this.varint() !== VERSION) return false;
    const zero = this.varint();
    const z = this.varint();
    const minKey = z % 2 ? -(z + 1) / 2 : z / 2;
    const n = this.varint();
    if (Number.isNaN(zero + z + n) || n > MAX_BINS || Math.abs(minKey) > 100_000) return false;
    let total = zero;
    let binTotal = 0;
    let first = 0;
    let last = -1;
    for (let k = 0; k < n; k++) {
      const c = this.varint();
      if (Number.isNaN(c)) return false;
      this.bins[k] = c;
      if (c > 0) {
        if (last < first) first = k;
        last = k;
        binTotal += c;
      }
      total += c;
    }
    if (this.at + 24 !== this.len) return false; // min, max, sum and nothing after them
    const min = this.bytes.readDoubleLE(this.at);
    const max = this.bytes.readDoubleLE(this.at + 8);
    const sum = this.bytes.readDoubleLE(this.at + 16);
    if (!(Number.isFinite(min) && Number.isFinite(max) && Number.isFinite(sum))) return false;
    // The bins array is indexed from the first key with a count: shift when the wire starts with empty bins.
    if (first > 0 && last >= first) this.bins.copyWithin(0, first, last + 1);
    this.firstKey = minKey + first;
    this.lastKey = last >= first ? minKey + last : this.firstKey - 1;
    this.zeroCount = zero;
    this.count = total;
    this.binTotal = binTotal;
    this.min = min;
    this.max = max;
    this.sum = sum;
    return true;
  }

  private copyFrom(s: DDSketch): boolean {
    const store = s.store as unknown as StoreView;
    this.firstKey = 0;
    this.lastKey = -1;
    if (store.count > 0) {
      this.firstKey = store.minKey;
      this.lastKey = store.maxKey;
      for (let k = store.minKey; k <= store.maxKey; k++)
        this.bins[k - store.minKey] = store.bins[k - store.offset] ?? 0;
    }
    this.zeroCount = s.zeroCount;
    this.count = s.count;
    this.binTotal = store.count;
    this.min = s.min;
    this.max = s.max;
    this.sum = s.sum;
    return true;
  }

  /** A varint, or NaN when truncated or longer than 8 bytes (decodeSketch throws on both). */
  private varint(): number {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 8; n++) {
      if (this.at >= this.len) return Number.NaN;
      const byte = this.bytes[this.at++] as number;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 0x80;
    }
    return Number.NaN;
  }

  /**
   * Adds the last sketch read into `into` (a sketch of the same mapping with an empty negative store, as
   * DDSketch.merge would): the store's range grows once to the new keys, then counts are added in place.
   */
  mergeInto(into: DDSketch): void {
    if (this.count === 0) return;
    if (this.binTotal > 0) {
      const store = into.store as unknown as StoreView & { add(key: number, weight: number): void };
      // A weight of 0 grows the range to the key (and counts nothing): at most two re-layouts per merge.
      if (store.count === 0 || this.firstKey < store.minKey) store.add(this.firstKey, 0);
      if (this.lastKey > store.maxKey) store.add(this.lastKey, 0);
      const bins = store.bins;
      const from = this.firstKey - store.offset;
      const n = this.lastKey - this.firstKey + 1;
      for (let k = 0; k < n; k++) bins[from + k] = (bins[from + k] as number) + (this.bins[k] as number);
      store.count += this.binTotal;
    }
    into.zeroCount += this.zeroCount;
    into.count += this.count;
    into.sum += this.sum;
    if (this.min < into.min) into.min = this.min;
    if (this.max > into.max) into.max = this.max;
  }
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

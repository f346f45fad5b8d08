import { DDSketch } from '@datadog/sketches-js';
import { DenseStore } from '@datadog/sketches-js/dist/ddsketch/store/index.js';
import { describe, expect, it } from 'vitest';
import {
  decodeSketch,
  encodeSketch,
  SAMPLE_SKETCH_ACCURACY,
  SketchScratch,
  sketchOf,
} from './sample-sketch.js';
import { prng } from './testing/prng.js';

/** A target like the controller's bucket sketches: small store chunks (controller/aggregate/sketch.ts). */
function target(): DDSketch {
  const s = new DDSketch({ relativeAccuracy: SAMPLE_SKETCH_ACCURACY });
  s.store = new DenseStore(8);
  return s;
}

/** Everything a merge result is judged by: summary stats, each key's count, quantiles. */
function state(s: DDSketch) {
  const store = s.store as unknown as { bins: number[]; offset: number; count: number };
  const keys: [number, number][] = [];
  store.bins.forEach((c, i) => {
    if (c) keys.push([i + store.offset, c]);
  });
  const qs = [0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1].map((q) => s.getValueAtQuantile(q));
  return {
    count: s.count,
    zero: s.zeroCount,
    min: s.min,
    max: s.max,
    sum: s.sum,
    store: store.count,
    keys,
    qs,
  };
}

function corpus(): string[] {
  const rand = prng(7);
  const wires: string[] = [];
  const push = (values: number[]) => {
    const s = sketchOf(values);
    const w = s && encodeSketch(s);
    if (w) wires.push(w);
  };
  push([0, 0, 0]);
  push([0, 5, 5000]);
  push([1e-3, 1e6]);
  for (let i = 0; i < 60; i++) {
    const n = 1 + Math.floor(rand() * 200);
    const base = 10 ** (rand() * 5);
    push(Array.from({ length: n }, () => (rand() < 0.05 ? 0 : base * (0.5 + rand() * 2))));
  }
  // Malformed: truncated, extended, corrupted bytes, not a sketch at all, wider than the wire allows.
  const more: string[] = [];
  for (const w of wires.slice(0, 30)) {
    more.push(w.slice(0, Math.floor(w.length * rand())));
    more.push(`${w}AA`);
    const bytes = Buffer.from(w, 'base64');
    for (let k = 0; k < 3; k++) {
      const b = Buffer.from(bytes);
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      more.push(b.toString('base64'));
    }
    // Empty bins at both ends of the wire form (a valid but unusual encoder).
    more.push(withEmptyEdges(bytes));
  }
  more.push('', 'AAAA', 'AQ==', 'AQAAAA', '////', `AQAA${'gICAgICAgICA'}`);
  more.push('x'.repeat(5000));
  return [...wires, ...more];
}

/** The same sketch with a zero-count bin added before its first and after its last key. */
function withEmptyEdges(bytes: Buffer): string {
  const s = decodeSketch(bytes.toString('base64'));
  const store = s.store as unknown as { bins: number[]; offset: number; minKey: number; maxKey: number };
  if (!(store.maxKey >= store.minKey)) return bytes.toString('base64');
  const counts = [0];
  for (let k = store.minKey; k <= store.maxKey; k++) counts.push(store.bins[k - store.offset] ?? 0);
  counts.push(0);
  const out: number[] = [];
  const varint = (n: number) => {
    let v = n;
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  };
  const minKey = store.minKey - 1;
  varint(1);
  varint(s.zeroCount);
  varint(minKey < 0 ? -2 * minKey - 1 : 2 * minKey);
  varint(counts.length);
  for (const c of counts) varint(c);
  const f = Buffer.alloc(24);
  f.writeDoubleLE(s.min, 0);
  f.writeDoubleLE(s.max, 8);
  f.writeDoubleLE(s.sum, 16);
  return Buffer.concat([Buffer.from(out), f]).toString('base64');
}

describe('SketchScratch (decode into scratch, merge in place)', () => {
  const wires = corpus();

  it('accepts exactly the wire sketches decodeSketch accepts', () => {
    const scratch = new SketchScratch();
    let valid = 0;
    for (const w of wires) {
      let ok = true;
      try {
        decodeSketch(w);
      } catch {
        ok = false;
      }
      expect(scratch.read(w), w).toBe(ok);
      if (ok) valid++;
    }
    expect(valid).toBeGreaterThan(60);
    expect(valid).toBeLessThan(wires.length);
  });

  it('merges into a sketch exactly as DDSketch.merge(decodeSketch(wire)) does', () => {
    const scratch = new SketchScratch();
    const valid = wires.filter((w) => scratch.read(w));
    const rand = prng(11);
    for (let run = 0; run < 40; run++) {
      const viaLibrary = target();
      const viaScratch = target();
      const n = 1 + Math.floor(rand() * 12);
      for (let k = 0; k < n; k++) {
        const w = valid[Math.floor(rand() * valid.length)] as string;
        const decoded = decodeSketch(w);
        if (decoded.count > 0) viaLibrary.merge(decoded);
        expect(scratch.read(w)).toBe(true);
        scratch.mergeInto(viaScratch);
        expect(state(viaScratch)).toEqual(state(viaLibrary));
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  CLOCK_BITS,
  CLOCK_COLS,
  CLOCK_ROWS,
  CLOCK_STRIP_HEIGHT,
  clockBlockCentre,
  clockCheckWord,
  decodeClockBits,
  encodeClockBits,
} from '../../shared/clock.js';
// The page's own picture code (plain JS, no DOM), tested here in Node.
import {
  clockSamplePoints,
  createPictureMonitor,
  maskRect,
  pictureStats,
  readClockBits,
} from './harness/picture.js';

const W = 256;
const H = 32;
const centres = Array.from({ length: CLOCK_BITS }, (_, i) => clockBlockCentre(i));

/** An RGBA strip canvas as the page would see it, blocks painted with studio-range luma plus noise. */
function paintStrip(ms: number, noise = 0): Uint8ClampedArray {
  const px = new Uint8ClampedArray(W * H * 4);
  const bits = encodeClockBits(ms);
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff - 0.5;
  };
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const col = Math.floor((x / W) * CLOCK_COLS);
      const row = Math.floor((y / H) * CLOCK_ROWS);
      const v = (bits[row * CLOCK_COLS + col] ? 235 : 16) + rnd() * noise;
      const o = (y * W + x) * 4;
      px[o] = v;
      px[o + 1] = v;
      px[o + 2] = v;
      px[o + 3] = 255;
    }
  }
  return px;
}

describe('in-frame clock read (page code)', () => {
  const pts = clockSamplePoints(centres, CLOCK_STRIP_HEIGHT, W, H);

  it('reads the painted capture time back through the shared decoder', () => {
    const ms = 1_795_767_279_129;
    expect(decodeClockBits(readClockBits(paintStrip(ms), pts), clockCheckWord)).toBe(ms);
  });

  it('survives codec-like noise on block centres', () => {
    const ms = 1_800_000_000_123;
    expect(decodeClockBits(readClockBits(paintStrip(ms, 120), pts), clockCheckWord)).toBe(ms);
  });

  it('an absent strip decodes to null, never a number', () => {
    const grey = new Uint8ClampedArray(W * H * 4).fill(64);
    expect(decodeClockBits(readClockBits(grey, pts), clockCheckWord)).toBeNull();
    const white = new Uint8ClampedArray(W * H * 4).fill(255);
    expect(decodeClockBits(readClockBits(white, pts), clockCheckWord)).toBeNull();
  });

  it('sample points stay inside the canvas', () => {
    for (const p of pts.flat()) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(W * H * 4);
    }
  });
});

describe('pictureStats', () => {
  const solid = (v: number) => new Uint8ClampedArray(8 * 4).fill(v);
  it('mean, max and change against the previous thumbnail', () => {
    const a = pictureStats(solid(100), null);
    expect(a.mean).toBeCloseTo(100, 5);
    expect(a.mad).toBe(Number.POSITIVE_INFINITY);
    const b = pictureStats(solid(100), a.luma);
    expect(b.mad).toBeCloseTo(0, 5);
    const c = pictureStats(solid(110), b.luma);
    expect(c.mad).toBeCloseTo(10, 4);
    expect(pictureStats(solid(16), null).max).toBeCloseTo(16, 4);
  });
});

describe('picture monitor', () => {
  const run = (
    samples: Array<[number, { changed: boolean; isBlack?: boolean; mediaTime: number; stalled?: boolean }]>,
  ) => {
    const out: Array<[string, number]> = [];
    const m = createPictureMonitor({
      freezeMinMs: 2000,
      blackMinMs: 1000,
      emit: (type: string, _p: unknown, t: number) => out.push([type, t]),
    });
    for (const [t, s] of samples) m.sample(t, { isBlack: false, stalled: false, ...s });
    return out;
  };

  it('moving picture: nothing', () => {
    const s = Array.from({ length: 30 }, (_, i) => [i * 200, { changed: true, mediaTime: i * 0.2 }] as const);
    expect(run(s.map(([t, x]) => [t, { ...x }]))).toEqual([]);
  });

  it('unchanged >= freezeMinMs while the playhead moves: frozen from when it stopped changing', () => {
    const s: Array<[number, { changed: boolean; mediaTime: number }]> = [
      [0, { changed: true, mediaTime: 0 }],
    ];
    for (let t = 500; t <= 3000; t += 500) s.push([t, { changed: false, mediaTime: t / 1000 }]);
    s.push([3500, { changed: true, mediaTime: 3.5 }]);
    expect(run(s)).toEqual([
      ['frozen-start', 0],
      ['frozen-end', 3500],
    ]);
  });

  it('a playhead that does not move is not a freeze', () => {
    const s: Array<[number, { changed: boolean; mediaTime: number }]> = [
      [0, { changed: true, mediaTime: 5 }],
    ];
    for (let t = 500; t <= 4000; t += 500) s.push([t, { changed: false, mediaTime: 5 }]);
    expect(run(s)).toEqual([]);
  });

  it('black for >= blackMinMs', () => {
    expect(
      run([
        [0, { changed: true, mediaTime: 0 }],
        [200, { changed: true, isBlack: true, mediaTime: 0.2 }],
        [800, { changed: true, isBlack: true, mediaTime: 0.8 }],
        [1300, { changed: true, isBlack: true, mediaTime: 1.3 }],
        [1500, { changed: true, mediaTime: 1.5 }],
      ]),
    ).toEqual([
      ['black-start', 200],
      ['black-end', 1500],
    ]);
  });

  it('a stall ends a freeze and restarts the clock', () => {
    expect(
      run([
        [0, { changed: true, mediaTime: 0 }],
        [2500, { changed: false, mediaTime: 2.5 }],
        [2600, { changed: false, mediaTime: 2.6, stalled: true }],
        [4000, { changed: false, mediaTime: 2.7 }],
        [5000, { changed: false, mediaTime: 3.7 }],
      ]),
    ).toEqual([
      ['frozen-start', 0],
      ['frozen-end', 2600],
    ]);
  });
});

describe('maskRect', () => {
  it('blanks the clock band (fractions of the canvas, clipped) and nothing else', () => {
    const w = 8;
    const h = 4;
    const px = new Uint8ClampedArray(w * h * 4).fill(200);
    maskRect(px, w, h, { x0: 0.5, x1: 1.5, y0: -0.2, y1: 0.5 });
    const at = (x: number, y: number) => px[(y * w + x) * 4];
    expect(at(4, 0)).toBe(0);
    expect(at(7, 1)).toBe(0);
    expect(at(3, 0)).toBe(200);
    expect(at(4, 2)).toBe(200);
    expect(px[(0 * w + 4) * 4 + 3]).toBe(200); // alpha untouched
  });
});

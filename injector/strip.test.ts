import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  canonicalPlacement,
  clockCheckWord,
  decodeIdBits,
  encodeClockBits,
  encodeIdBits,
  placementName,
  readStripFromLuma,
  STRIP_PLACEMENTS,
  type StripPlacement,
  stripRect,
} from '../shared/clock.js';
import { paintGraph, stripExpression } from './strip-filter.js';

/** Runs ffmpeg on a lavfi picture through the injector's paint graph; returns the gray frames and wall bounds. */
async function paintWithFfmpeg(
  placement: StripPlacement,
  opts: { width: number; height: number; offsetMs: number; id: number; frames: number },
): Promise<{ frames: Uint8Array[]; before: number; after: number }> {
  const graph = paintGraph({ offsetMs: opts.offsetMs, id: opts.id, placement }).replace('[0:v:0]', '[0:v]');
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${opts.width}x${opts.height}:r=30`,
    '-filter_complex',
    graph,
    '-map',
    '[v]',
    '-frames:v',
    String(opts.frames),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'gray',
    'pipe:1',
  ];
  const before = Date.now();
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const after = Date.now();
  expect(code).toBe(0);
  const all = Buffer.concat(chunks);
  const size = opts.width * opts.height;
  const frames: Uint8Array[] = [];
  for (let o = 0; o + size <= all.length; o += size) frames.push(all.subarray(o, o + size));
  return { frames, before, after };
}

describe('strip placements and the id row', () => {
  it('every placement is distinct and inside the frame', () => {
    const names = STRIP_PLACEMENTS.map(placementName);
    expect(new Set(names).size).toBe(names.length);
    expect(names[0]).toBe('top-left@1'); // the testbed's strip
    for (const p of STRIP_PLACEMENTS) {
      const r = stripRect(p);
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.y).toBeGreaterThanOrEqual(0);
      expect(r.x + r.w).toBeLessThanOrEqual(1 + 1e-9);
      expect(r.y + r.h).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('id bits round-trip; a missing id row (all dark, all bright) yields no id', () => {
    expect(decodeIdBits(encodeIdBits(4242), clockCheckWord)).toBe(4242);
    expect(decodeIdBits(new Array(32).fill(0), clockCheckWord)).toBeNull();
    expect(decodeIdBits(new Array(32).fill(1), clockCheckWord)).toBeNull();
  });

  it('a luma frame with no strip reads as none', () => {
    const grey = new Uint8Array(640 * 360).fill(64);
    expect(readStripFromLuma(grey, 640, 360)).toBeNull();
  });

  it('the testbed strip (2 rows across the top) is found at top-left@1, without an id', () => {
    const w = 640;
    const h = 360;
    const luma = new Uint8Array(w * h).fill(64);
    const ms = 1_796_000_000_123;
    const bits = encodeClockBits(ms);
    for (let i = 0; i < 64; i++) {
      const row = Math.floor(i / 32);
      const col = i % 32;
      for (let y = row * 32; y < row * 32 + 32; y++)
        luma.fill(bits[i] ? 235 : 16, y * w + col * 20, y * w + col * 20 + 20);
    }
    const r = readStripFromLuma(luma, w, h);
    expect(r).toEqual({ capture: ms, placement: { corner: 'top-left', size: 1 } });
  });
});

describe('the injector paint graph, run by real ffmpeg', () => {
  it('paints the wall clock (plus the offset) and the id at the chosen corner, every frame', async () => {
    for (const placement of [
      { corner: 'bottom-left', size: 0.5 },
      { corner: 'top-right', size: 0.25 },
      { corner: 'bottom-right', size: 1 },
    ] as StripPlacement[]) {
      const offsetMs = -250;
      const { frames, before, after } = await paintWithFfmpeg(placement, {
        width: 1280,
        height: 720,
        offsetMs,
        id: 513,
        frames: 5,
      });
      expect(frames.length).toBe(5);
      let last = 0;
      for (const f of frames) {
        const r = readStripFromLuma(f, 1280, 720);
        expect(r?.placement).toEqual(canonicalPlacement(placement));
        expect(r?.id).toBe(513);
        const capture = r?.capture ?? 0;
        expect(capture).toBeGreaterThanOrEqual(before + offsetMs);
        expect(capture).toBeLessThanOrEqual(after + offsetMs);
        expect(capture).toBeGreaterThanOrEqual(last);
        last = capture;
      }
    }
  });

  it('refuses an id outside 1..65535 and a fractional offset', () => {
    expect(() => stripExpression({ offsetMs: 0, id: 0 })).toThrow(/id/);
    expect(() => stripExpression({ offsetMs: 0, id: 70000 })).toThrow(/id/);
    expect(() => stripExpression({ offsetMs: 0.5, id: 1 })).toThrow(/offset/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  canonicalPlacement,
  readStripFromLuma,
  STRIP_PLACEMENTS,
  type StripPlacement,
  stripPixelRect,
} from '../shared/clock.js';
import { FrameStream } from './frame-stream.js';
import { StripPainter } from './strip-paint.js';

/** Splits `buf` at pseudo-random points (deterministic), as pipe reads do. */
function chunks(buf: Buffer, seed: number, max: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let o = 0; o < buf.length; ) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % max);
    out.push(Buffer.from(buf.subarray(o, o + n)));
    o += n;
  }
  return out;
}

describe('the decoder pipe: log lines and pictures on one stream', () => {
  it('hands on each log line and each picture, in order, whatever the chunking', () => {
    const w = 8;
    const h = 4;
    const size = w * h * 1.5;
    const pic = (v: number) => Buffer.alloc(size, v);
    const stream = Buffer.concat([
      Buffer.from('[info] Input #0, mpegts\n[info]   Stream #0:0 Video\n'),
      Buffer.from(`YUV4MPEG2 W${w} H${h} F30:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n`),
      Buffer.from('[Parsed_showinfo_0 @ 0x1] [info] n:   0 pts:  3000\n'),
      Buffer.from('FRAME\n'),
      pic(70), // bytes that look like "FFFF": a picture is read by length, never searched
      Buffer.from(
        '[warning] in.ts: corrupt decoded frame in stream 0\n[Parsed_showinfo_0 @ 0x1] [info] n:   1 pts:  6000\n',
      ),
      Buffer.from('FRAME\n'),
      pic(10), // "\n" bytes inside a picture
      Buffer.from('FRAME\n'),
      pic(200),
      Buffer.from('[info] frame=    3\n'),
      // lines shorter than a picture header, last in the stream (once a RangeError that ended the run)
      Buffer.from('\nok\n'),
    ]);
    for (const [seed, max] of [
      [1, 1],
      [7, 5],
      [42, 64],
      [3, 10_000],
    ] as const) {
      const events: string[] = [];
      let current: Buffer[] = [];
      const fs = new FrameStream({
        line: (l) => events.push(`line:${l}`),
        header: (hd) =>
          events.push(`header:${hd.width}x${hd.height}@${hd.fps.num}/${hd.fps.den}:${hd.frameBytes}`),
        frameStart: () => {
          current = [];
        },
        frameData: (c, offset) => {
          expect(offset).toBe(current.reduce((a, b) => a + b.length, 0));
          current.push(Buffer.from(c));
        },
        frameEnd: () => {
          const f = Buffer.concat(current);
          events.push(`frame:${f.length}:${f[0]}:${f.every((b) => b === f[0])}`);
        },
      });
      for (const c of chunks(stream, seed, max)) fs.push(c);
      expect(events).toEqual([
        'line:[info] Input #0, mpegts',
        'line:[info]   Stream #0:0 Video',
        `header:8x4@30/1:${size}`,
        'line:[Parsed_showinfo_0 @ 0x1] [info] n:   0 pts:  3000',
        `frame:${size}:70:true`,
        'line:[warning] in.ts: corrupt decoded frame in stream 0',
        'line:[Parsed_showinfo_0 @ 0x1] [info] n:   1 pts:  6000',
        `frame:${size}:10:true`,
        `frame:${size}:200:true`,
        'line:[info] frame=    3',
        'line:ok',
      ]);
    }
  });
});

describe('the Node painter', () => {
  it('paints the stamp and the id at every placement, streamed in arbitrary chunks; luma elsewhere untouched', () => {
    const w = 1280;
    const h = 720;
    const ySize = w * h;
    const frameBytes = ySize + 2 * (w / 2) * (h / 2);
    for (const placement of STRIP_PLACEMENTS as StripPlacement[]) {
      const painter = new StripPainter(w, h, placement, 4242);
      const frame = Buffer.alloc(frameBytes, 90);
      const ms = 1_796_000_000_000 + placement.size * 1000;
      painter.begin(ms);
      let offset = 0;
      for (const c of chunks(frame, 5, 200_000)) {
        painter.paint(c, offset);
        c.copy(frame, offset);
        offset += c.length;
      }
      const r = readStripFromLuma(frame.subarray(0, ySize), w, h, [placement]);
      expect(r).toEqual({ capture: ms, id: 4242, placement: canonicalPlacement(placement) });
      const band = stripPixelRect(placement, w, h);
      // Outside the band nothing changed; inside, only studio black / white luma and grey chroma.
      let changedOutside = 0;
      let notBlockInside = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const inBand = x >= band.x && x < band.x + band.w && y >= band.y && y < band.y + band.h;
          const v = frame[y * w + x]!;
          if (!inBand && v !== 90) changedOutside++;
          if (inBand && v !== 16 && v !== 235) notBlockInside++;
        }
      expect(changedOutside).toBe(0);
      expect(notBlockInside).toBe(0);
      expect(frame[ySize + (band.y / 2) * (w / 2) + band.x / 2]).toBe(128);
    }
  });

  it('refuses a picture too small for the strip', () => {
    expect(() => new StripPainter(16, 16, { corner: 'bottom-left', size: 0.5 }, 1)).toThrow(/too small/);
  });
});

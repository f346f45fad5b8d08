import { describe, expect, it } from 'vitest';
import { firstTsPts, mp4BaseTime, mp4Timescale, vttSegment } from './subtitles.js';

describe('subtitle segments', () => {
  it('a cue per second with the wall-clock time, and the timestamp map', () => {
    const start = Date.parse('2026-12-03T13:02:37.000Z');
    const text = vttSegment(start, 2, 901_920);
    expect(text).toContain('WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:901920,LOCAL:00:00:00.000\n');
    expect(text).toContain('00:00:00.000 --> 00:00:01.000\n13:02:37 UTC');
    expect(text).toContain('00:00:01.000 --> 00:00:02.000\n13:02:38 UTC');
    expect(vttSegment(start, 1.5, undefined)).toContain('00:00:01.000 --> 00:00:01.500\n13:02:38 UTC');
  });

  it('reads the first PES PTS of an MPEG-TS segment (33 bits)', () => {
    const pts = 2 ** 32 + 901_920;
    const pkt = Buffer.alloc(188, 0xff);
    pkt.set([0x47, 0x41, 0x00, 0x10, 0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5]);
    const b = [
      0x21 | (Math.floor(pts / 2 ** 30) << 1),
      (Math.floor(pts / 2 ** 22) & 0xff) >>> 0,
      ((Math.floor(pts / 2 ** 15) & 0x7f) << 1) | 1,
      Math.floor(pts / 2 ** 7) & 0xff,
      ((pts & 0x7f) << 1) | 1,
    ];
    pkt.set(b, 13);
    expect(firstTsPts(Buffer.concat([pkt]))).toBe(pts);
    expect(firstTsPts(Buffer.from('not a ts'))).toBeUndefined();
  });

  it('reads mdhd timescale and tfdt base time of fMP4', () => {
    const mdhd = Buffer.alloc(32);
    mdhd.write('mdhd', 4, 'latin1');
    mdhd.writeUInt32BE(15_360, 4 + 4 + 4 + 8);
    expect(mp4Timescale(mdhd)).toBe(15_360);
    const tfdt = Buffer.alloc(20);
    tfdt.write('tfdt', 4, 'latin1');
    tfdt[8] = 1;
    tfdt.writeBigUInt64BE(153_600n, 12);
    expect(mp4BaseTime(tfdt)).toBe(153_600);
  });
});

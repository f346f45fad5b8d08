/**
 * The smallest live Matroska stream ffmpeg's demuxer accepts for raw pictures with their timestamps: one
 * uncompressed I420 video track, a microsecond timecode scale, then per picture a Cluster of unknown size
 * (its Timecode: the picture's pts) holding one SimpleBlock. The Node painter writes the block header, then
 * streams the picture's bytes straight through (no copy of the frame).
 */

function vint(n: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let v = n;
  for (let i = len - 1; i >= 0; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0]! |= 1 << (8 - len);
  return b;
}

const id = (hex: string) => Buffer.from(hex, 'hex');
const size = (n: number) => vint(n, 8);
/** An element of unknown size (live: its end is where the next element of its level starts). */
const UNKNOWN = Buffer.from('01ffffffffffffff', 'hex');

function uint(n: number): Buffer {
  const bytes: number[] = [];
  let v = Math.max(0, Math.floor(n));
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return Buffer.from(bytes);
}

const el = (hex: string, body: Buffer) => Buffer.concat([id(hex), size(body.length), body]);
const elUint = (hex: string, n: number) => el(hex, uint(n));
const elStr = (hex: string, s: string) => el(hex, Buffer.from(s, 'latin1'));

/** Timestamps are written in microseconds (TimecodeScale 1000 ns): a 90 kHz pts survives the round trip. */
export const MKV_TIMECODE_SCALE_NS = 1000;

/** EBML header, Segment (unknown size), Info and Tracks for one I420 picture track. */
export function mkvHeader(width: number, height: number, fps: { num: number; den: number }): Buffer {
  const ebml = el(
    '1a45dfa3',
    Buffer.concat([
      elUint('4286', 1),
      elUint('42f7', 1),
      elUint('42f2', 4),
      elUint('42f3', 8),
      elStr('4282', 'matroska'),
      elUint('4287', 4),
      elUint('4285', 2),
    ]),
  );
  const info = el(
    '1549a966',
    Buffer.concat([
      elUint('2ad7b1', MKV_TIMECODE_SCALE_NS),
      elStr('4d80', 'liveprobe'),
      elStr('5741', 'liveprobe'),
    ]),
  );
  const video = el(
    'e0',
    Buffer.concat([elUint('b0', width), elUint('ba', height), el('2eb524', Buffer.from('I420', 'latin1'))]),
  );
  const track = el(
    'ae',
    Buffer.concat([
      elUint('d7', 1),
      elUint('73c5', 1),
      elUint('83', 1),
      elUint('9c', 0),
      elStr('86', 'V_UNCOMPRESSED'),
      // The encoder's rate control needs the frame rate (x264 would otherwise take 1/time base).
      ...(fps.num > 0 && fps.den > 0 ? [elUint('23e383', Math.round((1e9 * fps.den) / fps.num))] : []),
      video,
    ]),
  );
  const tracks = el('1654ae6b', track);
  return Buffer.concat([ebml, id('18538067'), UNKNOWN, info, tracks]);
}

/** A Cluster at `timeUs` holding one key SimpleBlock of `bytes` picture bytes (which follow). */
export function mkvFrameHeader(timeUs: number, bytes: number): Buffer {
  return Buffer.concat([
    id('1f43b675'),
    UNKNOWN,
    elUint('e7', timeUs),
    id('a3'),
    size(bytes + 4),
    // track 1, relative timecode 0, keyframe
    Buffer.from([0x81, 0, 0, 0x80]),
  ]);
}

import { describe, expect, it } from 'vitest';
import { CaptionClock, vttCues } from './captions.js';

/** A DASH text segment's body: one cue per second of [from, to) on the Period timeline. */
function vtt(from: number, to: number): string {
  const t = (s: number) =>
    `00:${String(Math.floor(s / 60)).padStart(2, '0')}:${(s % 60).toFixed(3).padStart(6, '0')}`;
  const lines = ['WEBVTT', ''];
  for (let s = from; s < to; s++) lines.push(`${t(s)} --> ${t(s + 1)}`, `cue ${s}`, '');
  return lines.join('\n');
}
const seg = (n: number, d = 2) => ({
  uri: `http://o/dash/sub-${n}.vtt?token=secret`,
  start: n * d,
  duration: d,
});

describe('DASH captions (WebVTT text segments)', () => {
  it('reads cue timings (hours optional), and nothing from a non-WebVTT body', () => {
    expect(
      vttCues('WEBVTT\n\n01:00.500 --> 01:02.000\nhi\n\n01:00:00.000 --> 01:00:01.250 align:start\nx\n'),
    ).toEqual([
      { start: 60.5, end: 62 },
      { start: 3600, end: 3601.25 },
    ]);
    expect(vttCues('<html>00:00.000 --> 00:01.000</html>')).toEqual([]);
  });

  it('current cues every segment: never stale; quiet (cue-less) segments are no evidence', () => {
    const c = new CaptionClock();
    for (let n = 10; n < 20; n++)
      expect(c.add(seg(n), n % 3 ? vtt(n * 2, n * 2 + 2) : 'WEBVTT\n\n', 1.5)).toBeUndefined();
  });

  it('the same old cues under new numbers: captions-stale past 1.5 x the segment duration, once, then recovered', () => {
    const c = new CaptionClock();
    expect(c.add(seg(10), vtt(20, 22), 1.5)).toBeUndefined();
    const held = vtt(20, 22);
    // 11: 2 s without a current cue (= 1 x d): not yet.
    expect(c.add(seg(11), held, 1.5)).toBeUndefined();
    const r = c.add(seg(12), held, 1.5);
    expect(r?.stale?.code).toBe('captions-stale');
    expect(r?.stale?.severity).toBe('warning');
    expect(r?.stale?.summary).toContain('no current caption for 4.0 s > 1.5 x segment duration 2 s');
    expect(r?.stale?.evidence).toContain('token=redacted');
    expect(r?.stale?.evidence).not.toContain('secret');
    expect(c.add(seg(13), held, 1.5)).toBeUndefined(); // held, not news again
    expect(c.add(seg(14), vtt(28, 30), 1.5)).toEqual({ recovered: true });
  });
});

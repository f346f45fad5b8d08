import { describe, expect, it } from 'vitest';
import { initialCarry, PeriodAccumulator } from './aggregate.js';
import type { HarnessEvent, HarnessSnapshot } from './events.js';

/** The viewer-signal arithmetic (silence, missing audio, A/V pairing, resolution) on synthetic timelines. */
const WALL = 1_700_000_000_000;
const snap = (now: number): HarnessSnapshot => ({
  now,
  dropped: 0,
  total: 0,
  currentTime: 0,
  stalled: false,
  level: 0,
  decodeAttempts: 0,
  decodeOk: 0,
});
const playing = (declared = true): HarnessEvent[] =>
  [
    { type: 'start', t: 0, wall: WALL, player: 'hls.js', nativeHls: '' },
    {
      type: 'levels',
      t: 1,
      levels: [{ height: 360, width: 640, bitrate: 800_000, url: 'http://cdn.example/360p/index.m3u8' }],
    },
    { type: 'declared', t: 2, audio: declared, captions: false },
    { type: 'switch', t: 3, level: 0 },
    { type: 'first-frame', t: 500, mediaTime: 0 },
  ] as HarnessEvent[];
const level = (
  t: number,
  db: number,
  carried: boolean | null,
  video: boolean | null = true,
): HarnessEvent => ({
  type: 'audio-level',
  t,
  db,
  playing: true,
  carried,
  video,
});
const windows = (from: number, n: number, f: (t: number) => HarnessEvent) =>
  Array.from({ length: n }, (_, i) => f(from + i * 100));

function period(events: HarnessEvent[], to: number, silenceDbfs?: number) {
  const acc = new PeriodAccumulator(initialCarry(silenceDbfs));
  acc.add({ events, snapshot: snap(to) });
  return acc.finish();
}

describe('viewer signals arithmetic', () => {
  it('silence counts only windows below the threshold with audio in the buffer', () => {
    const d = period(
      [
        ...playing(),
        ...windows(600, 30, (t) => level(t, -33, true)),
        ...windows(3600, 50, (t) => level(t, -200, true)),
        ...windows(8600, 10, (t) => level(t, -200, false, false)), // a stall: both buffers empty
      ],
      10_000,
    );
    expect(d.metrics.silent_ms).toBe(5000);
    expect(d.metrics.audio_missing_ms).toBe(0);
    expect(d.metrics.audio_level_p50_dbfs).toBe(-200);
    expect(d.findings).toEqual([]);
  });

  it('declared audio absent from the buffer while the picture plays is missing, with a finding', () => {
    const d = period(
      [
        ...playing(),
        ...windows(600, 40, (t) => level(t, -200, false)),
        // A player that does not play (restarting, or no video at the playhead) says nothing about audio.
        ...windows(4600, 10, (t) => ({ ...level(t, -200, false), playing: false })),
        ...windows(5600, 10, (t) => level(t, -200, null, null)),
      ],
      7000,
    );
    expect(d.metrics.audio_missing_ms).toBe(4000);
    expect(d.metrics.silent_ms).toBe(0);
    expect(d.findings.map((f) => [f.code, f.severity])).toEqual([['audio-missing', 'critical']]);
  });

  it("a stall's output silence in the first window after it ends is not silence of the stream", () => {
    const d = period(
      [
        ...playing(),
        ...windows(600, 10, (t) => level(t, -33, true)),
        { type: 'stall-start', t: 1600, mediaTime: 1 },
        { type: 'stall-end', t: 2600, ms: 1000 },
        level(2700, -200, true), // spans 2600-2700: the element's audio not resumed yet
        ...windows(2800, 10, (t) => level(t, -33, true)),
        ...windows(3800, 5, (t) => level(t, -200, true)), // real silence later on is counted
      ] as HarnessEvent[],
      5000,
    );
    expect(d.metrics.silent_ms).toBe(500);
  });

  it('a short stall drained after the silent window it cut is not silence of the stream either', () => {
    const d = period(
      [
        ...playing(),
        ...windows(600, 10, (t) => level(t, -33, true)),
        level(1700, -200, true), // the window a 20 ms stall emptied, drained before the stall's own events
        { type: 'stall-start', t: 1640, mediaTime: 1 },
        { type: 'stall-end', t: 1660, ms: 20 },
        ...windows(1800, 10, (t) => level(t, -33, true)),
      ] as HarnessEvent[],
      3000,
    );
    expect(d.metrics.silent_ms).toBe(0);
  });

  it('audio running dry just before the stall it causes is the stall, not missing audio', () => {
    const d = period(
      [
        ...playing(),
        ...windows(600, 10, (t) => level(t, -33, true)),
        // The audio buffer ends at 1.6 s; the element plays video alone for a moment, then reports waiting.
        level(1700, -200, false),
        { type: 'stall-start', t: 1750, mediaTime: 1.1 },
        { type: 'stall-end', t: 2500, ms: 750 },
        ...windows(2600, 10, (t) => level(t, -33, true)),
        ...windows(3600, 3, (t) => level(t, -200, false)), // audio gone later, far from any stall: missing
      ] as HarnessEvent[],
      4000,
    );
    expect(d.metrics.audio_missing_ms).toBe(300);
    expect(d.findings).toEqual([]);
  });

  it('a stream that declares and carries no audio is neither silent nor missing', () => {
    const d = period([...playing(false), ...windows(600, 40, (t) => level(t, -200, null, true))], 5000);
    expect(d.metrics.silent_ms).toBeUndefined();
    expect(d.metrics.audio_missing_ms).toBeUndefined();
  });

  it('without audio analysis (off, or failed in the page) there are no audio figures, not zeros', () => {
    const d = period(playing(), 5000);
    expect(d.metrics.silent_ms).toBeUndefined();
    expect(d.metrics.audio_missing_ms).toBeUndefined();
    expect(d.metrics.audio_level_p50_dbfs).toBeUndefined();
  });

  it('pairs each tone with the nearest marked frame (marker method), else uses the buffer figures', () => {
    const marks = [1000, 3000, 5000, 7000].flatMap((t): HarnessEvent[] => [
      { type: 'av-mark', t },
      { type: 'av-tone', t: t + 410 },
    ]);
    const d = period([...playing(), ...marks, { type: 'av-buffer', t: 2000, ms: 5 }], 9000);
    expect(d.avMethod).toBe('marker');
    expect(d.metrics.av_offset_ms).toBe(410);
    expect(d.metrics.av_offset_abs_ms).toBe(410);
    const early = period([...playing(), { type: 'av-mark', t: 2000 }, { type: 'av-tone', t: 1880 }], 4000);
    expect(early.metrics.av_offset_ms).toBe(-120);
    expect(early.metrics.av_offset_abs_ms).toBe(120);
    const b = period([...playing(), { type: 'av-buffer', t: 2000, ms: -40 }], 4000);
    expect(b.avMethod).toBe('buffer');
    expect(b.metrics.av_offset_ms).toBe(-40);
  });

  it('a pairing is final as soon as no later frame can be nearer; once the marker is seen, no buffer fallback', () => {
    const acc = new PeriodAccumulator(initialCarry());
    // Tone 400 ms after its marked frame: not final while the tone itself may not be drained with its
    // neighbours (margin), final just after it: marked frames are a period apart, so no later one can be nearer.
    acc.add({
      events: [...playing(), { type: 'av-mark', t: 1000 }, { type: 'av-tone', t: 1400 }],
      snapshot: snap(1480),
    });
    const pending = new PeriodAccumulator(initialCarry());
    pending.add({
      events: [...playing(), { type: 'av-mark', t: 1000 }, { type: 'av-tone', t: 1400 }],
      snapshot: snap(1480),
    });
    expect(pending.finish().metrics.av_offset_ms).toBeUndefined();
    acc.add({ events: [], snapshot: snap(1550) });
    const first = acc.finish();
    expect(first.avMethod).toBe('marker');
    expect(first.metrics.av_offset_ms).toBe(400);
    // The next period has no pair, only a buffered-timeline figure (e.g. a hole in the audio buffer): the
    // stream carries the marker, so no offset rather than the fallback's.
    const next = new PeriodAccumulator(acc.next());
    next.add({ events: [{ type: 'av-buffer', t: 2500, ms: 29_000 }], snapshot: snap(3300) });
    const d = next.finish();
    expect(d.metrics.av_offset_ms).toBeUndefined();
    expect(d.avMethod).toBeUndefined();
  });

  it('audio segments the player found without audio are audio-missing (demuxed audio rendition)', () => {
    const noMedia = (t: number): HarnessEvent => ({
      type: 'error',
      t,
      errType: 'mediaError',
      details: 'fragParsingError',
      fatal: false,
      frag: 'audio',
      url: 'http://cdn.example/audio/seg_1.ts',
      reason: 'Found no media in msn 1 of audio playlist "http://cdn.example/audio/index.m3u8"',
    });
    const d = period(
      [...playing(), ...windows(600, 20, (t) => level(t, -33, true)), noMedia(1200), noMedia(2200)],
      3000,
    );
    const f = d.findings.find((x) => x.code === 'audio-missing');
    expect(f?.severity).toBe('critical');
    expect(f?.at).toBe(WALL + 1200);
    expect(f?.evidence).toContain('2 audio segment(s) carried none');
    // The same parse error on a video fragment says nothing about audio.
    const v = period([...playing(), { ...noMedia(1200), frag: 'main' } as HarnessEvent], 3000);
    expect(v.findings.filter((x) => x.code === 'audio-missing')).toEqual([]);
  });

  it('resolution-mismatch needs 2 s at one level and names the rendition', () => {
    const brief = period(
      [
        ...playing(),
        { type: 'resolution', t: 600, level: 0, width: 426, height: 240 },
        { type: 'resolution', t: 1500, level: 0, width: 640, height: 360 },
      ],
      6000,
    );
    expect(brief.findings).toEqual([]);
    const lie = period(
      [...playing(), { type: 'resolution', t: 600, level: 0, width: 426, height: 240 }],
      6000,
    );
    expect(lie.findings).toHaveLength(1);
    expect(lie.findings[0]).toMatchObject({
      code: 'resolution-mismatch',
      variant: 'http://cdn.example/360p/index.m3u8',
      at: WALL + 600,
    });
    expect(lie.findings[0]!.evidence).toContain('decoded 426x240, declared 640x360');
  });

  it('counts caption cues per playing minute only when a track was selected', () => {
    const cues = Array.from(
      { length: 20 },
      (_, i): HarnessEvent => ({ type: 'cue', t: 600 + i * 500, start: i }),
    );
    const none = period([...playing(), ...cues], 20_500);
    expect(none.metrics.caption_cues_per_min).toBeUndefined();
    const d = period([...playing(), { type: 'captions', t: 550, label: 'English' }, ...cues], 20_500);
    expect(d.metrics.caption_cues_per_min).toBe(60);
  });
});

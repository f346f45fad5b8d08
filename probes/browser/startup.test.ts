import { describe, expect, it } from 'vitest';
import { initialCarry, PeriodAccumulator } from './aggregate.js';
import type { HarnessEvent, HarnessSnapshot } from './events.js';
import { causalStartup, STARTUP_CHAIN } from './startup.js';

const snap = (now: number): HarnessSnapshot => ({
  now,
  dropped: 0,
  total: 1,
  currentTime: 0,
  stalled: false,
  level: 0,
  decodeAttempts: 0,
  decodeOk: 0,
});

/** The largest amount by which a part comes after a later one (0 = causally ordered). */
function disorder(s: Record<string, number | undefined>): number {
  const parts = STARTUP_CHAIN.map((k) => s[k]).filter((v): v is number => v !== undefined);
  let worst = 0;
  for (let i = 1; i < parts.length; i++) worst = Math.max(worst, parts[i - 1]! - parts[i]!);
  return worst;
}

describe('causalStartup', () => {
  it('bounds a buffered part observed after the first frame by the first frame', () => {
    const s = causalStartup({
      manifest_ms: 40,
      first_segment_ms: 150,
      first_buffered_ms: 485.7,
      first_frame_ms: 480,
    });
    expect(s).toEqual({
      manifest_ms: 40,
      first_segment_ms: 150,
      first_buffered_ms: 480,
      first_frame_ms: 480,
    });
  });

  it('bounds every earlier part by each later one, leaves missing parts missing', () => {
    const s = causalStartup({
      manifest_ms: 60,
      media_playlist_ms: 50,
      first_segment_ms: 300,
      first_frame_ms: 200,
    });
    expect(s).toEqual({ manifest_ms: 50, media_playlist_ms: 50, first_segment_ms: 200, first_frame_ms: 200 });
    expect('first_buffered_ms' in s).toBe(false);
  });

  it('leaves an ordered breakdown as it is', () => {
    const ordered = {
      manifest_ms: 40,
      media_playlist_ms: 45,
      first_segment_ttfb_ms: 120,
      first_segment_ms: 150,
      first_buffered_ms: 300,
      first_frame_ms: 480,
    };
    expect(causalStartup(ordered)).toEqual(ordered);
  });
});

describe('DASH startup through the period aggregator', () => {
  it('a buffered event drained after the first frame (dash.js order) still gives an ordered breakdown ending at startup_ms', () => {
    const events = [
      { type: 'start', t: 0, wall: 1_700_000_000_000, player: 'dash.js 5.2.1', nativeHls: '' },
      { type: 'manifest', t: 35 },
      { type: 'levels', t: 36, levels: [{ height: 360, bitrate: 800_000 }] },
      {
        type: 'segment',
        t: 160,
        sn: 1,
        level: 0,
        kind: 'main',
        url: 'http://o/v/1.m4s',
        bytes: 1,
        start: 100,
        first: 120,
        end: 151,
      },
      // The frame was presented at 402.3; the buffered observer ran 5.7 ms later.
      { type: 'first-frame', t: 402.3, mediaTime: 1 },
      { type: 'buffered', t: 408, sn: -1, level: -1 },
    ] as HarnessEvent[];
    const a = new PeriodAccumulator(initialCarry());
    a.add({ events, snapshot: snap(500) });
    const d = a.finish();
    expect(d.metrics.startup_ms).toBe(402.3);
    expect(d.startup?.first_buffered_ms).toBe(402.3);
    expect(d.startup?.first_frame_ms).toBe(402.3);
    expect(disorder(d.startup ?? {})).toBe(0);
  });
});

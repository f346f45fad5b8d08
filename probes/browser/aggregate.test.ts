import { describe, expect, it } from 'vitest';
import { MAX_RENDITIONS_IN_REPORT } from '../../shared/schemas.js';
import {
  errorCategory,
  initialCarry,
  PeriodAccumulator,
  redactUrlsIn,
  renditionName,
  reportUrl,
} from './aggregate.js';
import type { DrainResult, HarnessEvent, HarnessSnapshot } from './events.js';

const WALL = 1_700_000_000_000;

function snap(now: number, total = 0, dropped = 0): HarnessSnapshot {
  return { now, dropped, total, currentTime: 0, stalled: false, level: 0, decodeAttempts: 0, decodeOk: 0 };
}
const drain = (events: HarnessEvent[], s: HarnessSnapshot): DrainResult => ({ events, snapshot: s });

const seg = (
  t: number,
  sn: number,
  start: number,
  first: number,
  end: number,
  bytes = 100_000,
): HarnessEvent => ({
  type: 'segment',
  t,
  sn,
  level: 0,
  kind: 'main',
  url: `http://cdn.example/seg${sn}.ts?token=secret`,
  bytes,
  start,
  first,
  end,
});

const startup: HarnessEvent[] = [
  { type: 'start', t: 0, wall: WALL, player: 'hls.js 1.7.4', nativeHls: 'maybe' },
  { type: 'manifest', t: 40 },
  { type: 'levels', t: 41, levels: [{ height: 360, bitrate: 800_000 }] },
  { type: 'media-playlist', t: 45 },
  { type: 'switch', t: 46, level: 0 },
  seg(150, 1, 100, 120, 150),
  { type: 'buffered', t: 300, sn: 1, level: 0 },
  { type: 'first-frame', t: 480, mediaTime: 2 },
] as HarnessEvent[];

describe('PeriodAccumulator', () => {
  it('startup parts share the loadSource origin and never exceed startup_ms', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(drain(startup, snap(500, 1)));
    const d = a.finish();
    expect(d.startup).toEqual({
      manifest_ms: 40,
      media_playlist_ms: 45,
      first_segment_ttfb_ms: 120,
      first_segment_ms: 150,
      first_buffered_ms: 300,
      first_frame_ms: 480,
    });
    expect(d.metrics.startup_ms).toBe(480);
    expect(d.metrics.manifest_ms).toBe(40);
    expect(d.metrics.first_segment_ms).toBe(150);
    for (const v of Object.values(d.startup ?? {})) expect(v).toBeLessThanOrEqual(480);
    expect(d.played).toBe(true);
    // The initial LEVEL_SWITCHED is startup, not a switch.
    expect(d.metrics.bitrate_switches).toBe(0);
  });

  it('segment timings: ttfb, download, throughput, redacted URL, wall-clock start', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(
      drain(
        [...startup, seg(2100, 2, 2000, 2010, 2100, 200_000), seg(4050, 3, 4000, 4030, 4050)],
        snap(4100),
      ),
    );
    const d = a.finish();
    expect(d.metrics.segments_total).toBe(3);
    // ttfb: 20, 10, 30 -> p50 20; download: 50, 100, 50 -> p50 50
    expect(d.metrics.segment_ttfb_p50_ms).toBe(20);
    expect(d.metrics.segment_download_p50_ms).toBe(50);
    // kbit/s = bytes*8/ms: 16000, 16000, 16000
    expect(d.metrics.segment_throughput_p50_kbps).toBe(16000);
    expect(d.segments[1]).toEqual({
      at: WALL + 2000,
      rendition: '360p',
      sn: 2,
      url: 'http://cdn.example/seg2.ts?token=redacted',
      bytes: 200_000,
      ttfb_ms: 10,
      download_ms: 100,
    });
  });

  it('latency: stamp when decoded, else pdt; absent strip means no g2g metrics (never 0)', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(
      drain([...startup, { type: 'pdt', t: 1000, ms: 4000 }, { type: 'pdt', t: 1500, ms: 4100 }], snap(2000)),
    );
    const d = a.finish();
    expect(d.latencyMethod).toBe('pdt');
    expect(d.metrics.pdt_latency_p50_ms).toBe(4050);
    expect('g2g_p50_ms' in d.metrics).toBe(false);
    expect('g2g_max_ms' in d.metrics).toBe(false);

    const b = new PeriodAccumulator(initialCarry());
    const g2g = [4010, 4020, 4030].map(
      (ms, i) => ({ type: 'g2g', t: 600 + i * 100, ms, capture: 0 }) as HarnessEvent,
    );
    b.add(drain([...startup, ...g2g, { type: 'pdt', t: 1000, ms: 4000 }], snap(2000)));
    const e = b.finish();
    expect(e.latencyMethod).toBe('stamp');
    expect(e.metrics.g2g_p50_ms).toBe(4020);
    expect(e.metrics.g2g_max_ms).toBe(4030);
  });

  it('clock honesty: g2g and PDT latency corrected by the agent offset; negative samples counted, kept', () => {
    const a = new PeriodAccumulator(initialCarry());
    const g2g = [900, 1100, 1300, 1500].map(
      (ms, i) => ({ type: 'g2g', t: 600 + i * 100, ms, capture: 0 }) as HarnessEvent,
    );
    a.add(drain([...startup, ...g2g, { type: 'pdt', t: 1000, ms: 1050 }], snap(2000)));
    // Agent clock 1200 ms ahead of the reference: every figure drops by 1200; two g2g and the PDT sample
    // go negative (skew beyond the estimate) and are counted, never clamped to 0.
    const d = a.finish({ offsetMs: 1200, uncertaintyMs: 35 });
    expect(d.metrics.g2g_p50_ms).toBe(0);
    expect(d.metrics.g2g_max_ms).toBe(300);
    expect(d.metrics.pdt_latency_p50_ms).toBe(-150);
    expect(d.metrics.clock_skew_negative).toBe(3);
    expect(d.metrics.clock_uncertainty_ms).toBe(35);

    const raw = new PeriodAccumulator(initialCarry());
    raw.add(drain([...startup, ...g2g], snap(2000)));
    const r = raw.finish();
    expect(r.metrics.g2g_p50_ms).toBe(1200);
    expect(r.metrics.clock_skew_negative).toBe(0);
    expect('clock_uncertainty_ms' in r.metrics).toBe(false);
  });

  it('clock honesty: dash.js latency corrected by the agent offset like PDT; negative samples counted, kept', () => {
    const a = new PeriodAccumulator(initialCarry());
    const dash = [1000, 1100, 1300].map(
      (ms, i) => ({ type: 'dash-latency', t: 600 + i * 100, ms }) as HarnessEvent,
    );
    a.add(drain([...startup, ...dash], snap(2000)));
    // Agent clock 1200 ms ahead: 1000 and 1100 go negative (-200, -100) and are counted, never clamped to 0.
    const d = a.finish({ offsetMs: 1200, uncertaintyMs: 20 });
    expect(d.latencyMethod).toBe('dash');
    expect(d.metrics.dash_latency_p50_ms).toBe(-100);
    expect(d.metrics.clock_skew_negative).toBe(2);
    expect(d.metrics.clock_uncertainty_ms).toBe(20);
    expect(d.sketches?.dash_latency_ms).toBeDefined();

    // A negative raw reading (the harness no longer drops them) is counted even with no offset measured.
    const raw = new PeriodAccumulator(initialCarry());
    raw.add(drain([...startup, { type: 'dash-latency', t: 700, ms: -40 } as HarnessEvent], snap(2000)));
    const r = raw.finish();
    expect(r.metrics.dash_latency_p50_ms).toBe(-40);
    expect(r.metrics.clock_skew_negative).toBe(1);
  });

  it('g2g source: stamp with the strip and injector read, none when frames were read without a strip', () => {
    const a = new PeriodAccumulator(initialCarry());
    const g2g = [4010, 4020].map(
      (ms, i) =>
        ({
          type: 'g2g',
          t: 600 + i * 100,
          ms,
          capture: 0,
          strip: 'bottom-left@0.5',
          injector: 12,
        }) as HarnessEvent,
    );
    a.add(drain([...startup, ...g2g], { ...snap(2000), decodeAttempts: 10, decodeOk: 2 }));
    expect(a.finish().g2g).toEqual({ method: 'stamp', strip: 'bottom-left@0.5', injectorId: 12 });

    const b = new PeriodAccumulator(initialCarry());
    b.add(drain([...startup, { type: 'pdt', t: 1000, ms: 4000 }], { ...snap(2000), decodeAttempts: 10 }));
    const none = b.finish();
    expect(none.g2g).toEqual({ method: 'none' });
    expect('g2g_p50_ms' in none.metrics).toBe(false);

    // No frame read at all (never played): nothing is claimed either way.
    const c = new PeriodAccumulator(initialCarry());
    c.add(
      drain(
        [{ type: 'start', t: 0, wall: WALL, player: 'hls.js', nativeHls: '' }] as HarnessEvent[],
        snap(500),
      ),
    );
    expect(c.finish().g2g).toBeUndefined();
  });

  it('never played: no stall/frame metrics, errors counted by category', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(
      drain(
        [
          { type: 'start', t: 0, wall: WALL, player: 'hls.js 1.7.4', nativeHls: 'maybe' },
          {
            type: 'error',
            t: 30,
            errType: 'networkError',
            details: 'manifestLoadError',
            fatal: true,
            status: 404,
            url: 'http://o/x.m3u8?sig=abc',
          },
        ],
        snap(40),
      ),
    );
    const d = a.finish();
    expect(d.played).toBe(false);
    expect(d.metrics).toEqual({ segments_total: 0, errors_http: 1, errors_network: 0, errors_player: 0 });
    expect(d.fatal?.details).toBe('manifestLoadError');
    expect(d.errors).toEqual([
      {
        at: WALL + 30,
        category: 'http',
        type: 'networkError',
        details: 'manifestLoadError',
        fatal: true,
        status: 404,
        url: 'http://o/x.m3u8?sig=redacted',
      },
    ]);
  });

  it('non-fatal hls.js housekeeping (a hole skipped at start) is a notice, not a player error', () => {
    const a = new PeriodAccumulator(initialCarry());
    const hole = (t: number): HarnessEvent => ({
      type: 'error',
      t,
      errType: 'mediaError',
      details: 'bufferSeekOverHole',
      fatal: false,
      reason: 'fragment loaded with buffer holes, seeking from 0 to 0.02',
    });
    a.add(
      drain(
        [
          ...startup,
          hole(490),
          hole(700),
          { type: 'error', t: 800, errType: 'mediaError', details: 'bufferAppendError', fatal: false },
          { type: 'error', t: 900, errType: 'mediaError', details: 'bufferSeekOverHole', fatal: true },
        ] as HarnessEvent[],
        snap(1000, 10),
      ),
    );
    const d = a.finish();
    expect(d.notices).toEqual([
      {
        type: 'bufferSeekOverHole',
        at: WALL + 490,
        count: 2,
        details: 'fragment loaded with buffer holes, seeking from 0 to 0.02',
      },
    ]);
    // A non-fatal error outside the notice list stays an error, and so does any fatal one.
    expect(d.metrics.errors_player).toBe(2);
    expect(d.errors.map((e) => e.details)).toEqual(['bufferAppendError', 'bufferSeekOverHole']);
  });

  it('stalls split across watch intervals; rebuffer ratio over playing time; frame deltas', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(drain(startup, snap(480, 0)));
    a.add(drain([{ type: 'stall-start', t: 9000, mediaTime: 10 }], snap(10_480, 300, 1)));
    const first = a.finish();
    // Played 480..10480 = 10000 ms, of which stalled 9000..10480 = 1480.
    expect(first.metrics.stall_count).toBe(1);
    expect(first.metrics.stall_ms).toBe(1480);
    expect(first.metrics.rebuffer_ratio).toBeCloseTo(0.148, 6);
    expect(first.metrics.total_frames).toBe(300);
    expect(first.metrics.dropped_frames).toBe(1);
    expect(first.metrics.startup_ms).toBe(480);

    const b = new PeriodAccumulator(a.next());
    b.add(
      drain(
        [
          { type: 'stall-end', t: 11_000, ms: 2000 },
          { type: 'switch', t: 12_000, level: 1 },
        ],
        snap(20_480, 600, 1),
      ),
    );
    const second = b.finish();
    // The stall started in the previous period: only 10480..11000 counts here, and it is not counted again.
    expect(second.metrics.stall_count).toBe(0);
    expect(second.metrics.stall_ms).toBe(520);
    expect(second.metrics.rebuffer_ratio).toBeCloseTo(520 / 10_000, 6);
    expect(second.metrics.total_frames).toBe(300);
    expect(second.metrics.dropped_frames).toBe(0);
    expect(second.metrics.bitrate_switches).toBe(1);
    // Startup belongs to the period that saw the first frame only.
    expect(second.startup).toBeUndefined();
    expect(second.metrics.startup_ms).toBeUndefined();
  });

  it('frozen and black intervals are summed per period, open ones up to the period end', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(
      drain(
        [
          ...startup,
          { type: 'frozen-start', t: 1000 },
          { type: 'frozen-end', t: 3500 },
          { type: 'black-start', t: 8000 },
        ] as HarnessEvent[],
        snap(10_000),
      ),
    );
    const d = a.finish();
    expect(d.metrics.frozen_ms).toBe(2500);
    expect(d.metrics.black_ms).toBe(2000);
    const b = new PeriodAccumulator(a.next());
    b.add(drain([{ type: 'black-end', t: 11_000 } as HarnessEvent], snap(20_000)));
    expect(b.finish().metrics).toMatchObject({ frozen_ms: 0, black_ms: 1000 });
  });

  it('startup lands in the interval that saw the first frame when it comes late', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(drain(startup.slice(0, 4), snap(2000)));
    const first = a.finish();
    expect(first.played).toBe(false);
    expect(first.startup).toEqual({ manifest_ms: 40, media_playlist_ms: 45 });
    expect(first.metrics.startup_ms).toBeUndefined();
    const b = new PeriodAccumulator(a.next());
    b.add(drain([{ type: 'first-frame', t: 2500, mediaTime: 2 } as HarnessEvent], snap(4000)));
    const second = b.finish();
    expect(second.metrics.startup_ms).toBe(2500);
    expect(second.startup?.manifest_ms).toBe(40);
  });
});

describe('time at each rendition', () => {
  const ladder: HarnessEvent = {
    type: 'levels',
    t: 41,
    levels: [
      { height: 144, bitrate: 150_000 },
      { height: 240, bitrate: 400_000 },
      { height: 360, bitrate: 800_000 },
    ],
  };
  const ev = (type: string, t: number, extra: Record<string, unknown> = {}) =>
    ({ type, t, ...extra }) as HarnessEvent;
  const opening: HarnessEvent[] = [
    { type: 'start', t: 0, wall: WALL, player: 'hls.js 1.7.4', nativeHls: 'maybe' },
    ladder,
    ev('switch', 46, { level: 2 }),
    ev('first-frame', 480, { mediaTime: 2 }),
  ];
  const total = (d: { renditions?: { time_ms: number }[] }) =>
    (d.renditions ?? []).reduce((s, r) => s + r.time_ms, 0);
  const byName = (d: { renditions?: { rendition: string; time_ms: number }[] }) =>
    Object.fromEntries((d.renditions ?? []).map((r) => [r.rendition, r.time_ms]));
  /** Playing time as the rebuffer ratio counts it: watched (after the first frame) minus stalled. */
  const playing = (d: ReturnType<PeriodAccumulator['finish']>, firstFrameAt = 480) =>
    d.to - Math.max(d.from, firstFrameAt) - (d.metrics.stall_ms ?? 0);

  it('playing time per displayed rendition: switches move it, stalls and startup are not in it', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(
      drain(
        [
          ...opening,
          ev('switch', 3000, { level: 1 }),
          ev('stall-start', 5000, { mediaTime: 6 }),
          ev('stall-end', 5600, { ms: 600 }),
          ev('switch', 7000, { level: 0 }),
        ],
        snap(10_480, 300),
      ),
    );
    const d = a.finish();
    expect(d.renditions).toEqual([
      { rendition: '360p', height: 360, bitrate: 800_000, time_ms: 2520 },
      { rendition: '240p', height: 240, bitrate: 400_000, time_ms: 3400 },
      { rendition: '144p', height: 144, bitrate: 150_000, time_ms: 3480 },
    ]);
    expect(d.metrics.bitrate_switches).toBe(2);
    expect(d.metrics.stall_ms).toBe(600);
    expect(total(d)).toBe(playing(d));
    expect(total(d)).toBe(9400);
    // The same playing time the rebuffer ratio is computed over.
    expect(d.metrics.rebuffer_ratio).toBeCloseTo(600 / (600 + total(d)), 4);
  });

  it('watch intervals carry their own time, the summary the whole session, both equal to playing time', () => {
    const summary = new PeriodAccumulator(initialCarry());
    let interval = new PeriodAccumulator(initialCarry());
    const feed = (d: DrainResult) => {
      summary.add(d);
      interval.add(d);
    };
    const cut = (t: number) => {
      interval.advance(t);
      const data = interval.finish();
      interval = new PeriodAccumulator(interval.next());
      return data;
    };
    feed(drain([...opening, ev('switch', 4000, { level: 1 })], snap(6000, 150)));
    // A stall open across the boundary, a switch in the next interval.
    feed(drain([ev('stall-start', 9000, { mediaTime: 10 })], snap(10_000, 250)));
    const first = cut(10_000);
    feed(
      drain([ev('stall-end', 11_000, { ms: 2000 }), ev('switch', 15_000, { level: 2 })], snap(20_000, 550)),
    );
    const second = cut(20_000);
    // The third interval ends without a drain in it (advance only): all of it at the last rendition.
    const third = cut(23_000);
    summary.advance(23_000);
    const whole = summary.finish();

    expect(byName(first)).toEqual({ '360p': 3520, '240p': 5000 });
    expect(total(first)).toBe(playing(first));
    expect(byName(second)).toEqual({ '240p': 4000, '360p': 5000 });
    expect(total(second)).toBe(playing(second));
    expect(byName(third)).toEqual({ '360p': 3000 });
    expect(total(third)).toBe(playing(third));
    expect(byName(whole)).toEqual({ '360p': 3520 + 5000 + 3000, '240p': 9000 });
    expect(total(whole)).toBe(playing(whole));
    expect(total(whole)).toBe(total(first) + total(second) + total(third));
    // Summary ordering: the ladder from the top.
    expect(whole.renditions?.map((r) => r.rendition)).toEqual(['360p', '240p']);
  });

  it('a restarted player (watch) adds no switch when it resumes on the same rendition; offline time is not playing', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(drain(opening, snap(4480, 120)));
    a.goOffline(4480);
    a.advance(6000);
    a.goOnline(6480);
    // The new page's timeline, already shifted onto the session's: levels and its initial switch again.
    a.add(
      drain(
        [{ ...ladder, t: 6521 }, ev('switch', 6526, { level: 2 }), ev('switch', 8000, { level: 1 })],
        snap(10_480, 240),
      ),
    );
    const d = a.finish();
    expect(d.metrics.bitrate_switches).toBe(1);
    expect(byName(d)).toEqual({ '360p': 4000 + 1520, '240p': 2480 });
    // 10000 ms watched, 2000 of them without a player.
    expect(total(d)).toBe(8000);
  });

  it('not played: no renditions; no switch before the first frame: time is unknown rather than dropped', () => {
    const a = new PeriodAccumulator(initialCarry());
    a.add(drain(opening.slice(0, 3), snap(2000)));
    expect(a.finish().renditions).toBeUndefined();

    const b = new PeriodAccumulator(initialCarry());
    b.add(
      drain([opening[0], ladder, ev('first-frame', 500, { mediaTime: 1 })] as HarnessEvent[], snap(1500)),
    );
    b.add(drain([ev('switch', 1000, { level: 0 })], snap(2500)));
    expect(byName(b.finish())).toEqual({ unknown: 500, '144p': 1500 });
  });

  it('at most MAX_RENDITIONS_IN_REPORT entries, the longest kept', () => {
    const levels = Array.from({ length: 25 }, (_, i) => ({ height: 100 + i, bitrate: 100_000 * (i + 1) }));
    const events: HarnessEvent[] = [
      opening[0] as HarnessEvent,
      { type: 'levels', t: 1, levels },
      ev('switch', 2, { level: 0 }),
      ev('first-frame', 10, { mediaTime: 0 }),
    ];
    // Level i plays (i + 1) x 100 ms.
    let t = 10;
    for (let i = 1; i < 25; i++) {
      t += i * 100;
      events.push(ev('switch', t, { level: i }));
    }
    const d = (() => {
      const a = new PeriodAccumulator(initialCarry());
      a.add(drain(events, snap(t + 2500)));
      return a.finish();
    })();
    expect(d.renditions).toHaveLength(MAX_RENDITIONS_IN_REPORT);
    // The five shortest (levels 0-4) are the ones left out.
    expect(d.renditions?.map((r) => r.height)).toEqual(Array.from({ length: 20 }, (_, i) => 124 - i));
  });
});

it('no drain at all: no metrics (never 0 for what was not measured)', () => {
  expect(new PeriodAccumulator(initialCarry()).finish().metrics).toEqual({});
});

describe('helpers', () => {
  it('renditionName', () => {
    const levels = [{ height: 360, bitrate: 800_000 }, { height: 720, bitrate: 3_000_000 }, {}];
    expect(renditionName(levels, 1)).toBe('720p');
    expect(renditionName(levels, 2)).toBe('level 2');
    expect(renditionName(levels, 0, 'audio')).toBe('audio');
    const twins = [
      { height: 360, bitrate: 400_000 },
      { height: 360, bitrate: 800_000 },
    ];
    expect(renditionName(twins, 1)).toBe('360p@800k');
  });

  it('reportUrl drops our CMCD parameter and redacts the rest', () => {
    expect(reportUrl('http://o/a.ts?CMCD=sid%3D%22x%22&token=abc')).toBe('http://o/a.ts?token=redacted');
    expect(reportUrl('http://o/a.ts?CMCD=sid%3D%22x%22')).toBe('http://o/a.ts');
    expect(reportUrl('http://u:p@o/a.ts')).toBe('http://redacted@o/a.ts');
  });

  it('redactUrlsIn redacts URLs inside player messages', () => {
    expect(redactUrlsIn('http://o/x.mpd?token=abc&CMCD=sid%3D1 is not available')).toBe(
      'http://o/x.mpd?token=redacted is not available',
    );
  });

  it('errorCategory', () => {
    expect(errorCategory({ errType: 'networkError', status: 503 })).toBe('http');
    expect(errorCategory({ errType: 'networkError' })).toBe('network');
    expect(errorCategory({ errType: 'networkError', status: 200 })).toBe('network');
    expect(errorCategory({ errType: 'mediaError' })).toBe('player');
  });
});

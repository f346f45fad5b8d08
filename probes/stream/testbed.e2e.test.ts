/**
 * The stream probe against the real testbed: a live ffmpeg ladder (HLS TS: 360p/240p/144p + audio; DASH)
 * with faults injected through its API on one rendition. Each fault must yield its finding naming that
 * rendition (or the master / the MPD) and nothing on the healthy renditions; a healthy stream yields no
 * finding at all. Scenarios run one after another on the same testbed (TD 1 s keeps it short).
 *
 * STREAM_SOAK_S=600 runs the long healthy watch of the acceptance instead (no finding in 10 minutes), on its
 * own testbed at STREAM_SOAK_TD (default 2 s, the testbed's default). The viewer-signal soak (stream and
 * browser probe together) is test/viewer-soak.e2e.test.ts (VIEWER_SOAK_S).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { type Finding, ProbeResult } from '../../shared/schemas.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import { StreamProber } from './index.js';

const TD = 1;
const BAD = '240p';
const logger = createLogger('stream-testbed-e2e', 'silent');

let tb: Testbed;

function url(id: 'hls-ts' | 'dash'): string {
  const s = tb.streams.find((x) => x.id === id);
  if (!s) throw new Error(`testbed has no ${id}`);
  return s.url;
}

interface Outcome {
  result: ProbeResult;
  injectedAt: number;
  first: Finding[];
}

/** One check of `runS` seconds; the fault is injected `afterS` into it (or before it when afterS is 0). */
async function scenario(
  fault: Record<string, unknown> | undefined,
  opts: { stream?: 'hls-ts' | 'dash'; runS?: number; afterS?: number } = {},
): Promise<Outcome> {
  const stream = opts.stream ?? 'hls-ts';
  const first: Finding[] = [];
  const p = new StreamProber({ masterIntervalS: 1, logger, onFinding: (f) => first.push(f) });
  let injectedAt = 0;
  const inject = () => {
    injectedAt = Date.now();
    if (fault) tb.faults.inject({ stream, ...fault } as never);
  };
  if (fault && opts.afterS === 0) inject();
  const timer = fault && opts.afterS !== 0 ? setTimeout(inject, (opts.afterS ?? 4) * 1000) : undefined;
  try {
    const result = await p.run(
      {
        target: { id: `tb-${stream}`, url: url(stream), protocol: stream === 'dash' ? 'dash' : 'hls' },
        mode: 'check',
        durationS: opts.runS ?? 10,
        expectations: {},
      },
      { signal: new AbortController().signal, logger },
    );
    expect(ProbeResult.safeParse(result).success).toBe(true);
    if (process.env.STREAM_E2E_DUMP) {
      const { appendFileSync } = await import('node:fs');
      appendFileSync(process.env.STREAM_E2E_DUMP, `${JSON.stringify({ fault, stream, result })}\n`);
    }
    return { result, injectedAt, first };
  } finally {
    if (timer) clearTimeout(timer);
    tb.faults.clear();
    await p.close();
    // Let the stream settle (a removed fault can leave one odd reload behind it).
    await new Promise((r) => setTimeout(r, 2 * TD * 1000));
  }
}

function on(o: Outcome, code: string): Finding[] {
  return o.result.findings.filter((f) => f.code === code);
}

function expectOnlyBad(o: Outcome, bad = BAD): void {
  const others = o.result.findings.filter((f) => !f.variant.includes(bad));
  expect(others, JSON.stringify(others.map((f) => [f.code, f.variant]))).toEqual([]);
}

// The long healthy watch: 20 s in every `npm test`, STREAM_SOAK_S=600 for the ten-minute run.
const soakS = Number(process.env.STREAM_SOAK_S ?? 20);

describe('stream probe on the real testbed', () => {
  beforeAll(async () => {
    tb = await startTestbed({ port: 0, ladder: 'full', segmentS: TD, windowSize: 6, logger });
  }, 90_000);

  afterAll(async () => {
    await tb?.stop();
  });

  it('a healthy HLS ladder and a healthy DASH stream: no finding', async () => {
    const hls = await scenario(undefined, { runS: 12 });
    expect(hls.result.findings).toEqual([]);
    expect(hls.result.outcome).toBe('ok');
    expect(hls.result.metrics.segments_total).toBeGreaterThan(10);
    // Issue #21: the subtitle rendition is followed, and every rendition is within its declared bandwidth.
    expect(hls.result.reasons.join('\n')).toMatch(/\b5 rendition\(s\) conform/);
    expect(hls.result.metrics.bandwidth_peak_ratio).toBeLessThan(1.1);
    // Row-level truth: each listed segment carries its phases, and the report summarises them.
    for (const seg of hls.result.segments) {
      expect(seg.connect_ms).toBeTypeOf('number');
      expect(seg.tls_ms).toBe(0); // plain http
      expect(seg.transfer_ms).toBeLessThanOrEqual(seg.download_ms);
      expect(seg.reused).toBeTypeOf('boolean');
      if (seg.reused) expect(seg.connect_ms).toBe(0);
    }
    expect(hls.result.segments.some((x) => x.reused)).toBe(true);
    const ph = hls.result.segmentPhases;
    expect(ph?.samples).toBe(hls.result.metrics.segments_total);
    // Segments mostly ride the keep-alive connections the playlists opened; connect is summarised over the
    // downloads that did open one, and only then.
    const opened = hls.result.segments.filter((x) => !x.reused).length;
    expect(ph?.new_connection_count).toBeGreaterThanOrEqual(opened);
    expect(ph?.new_connection_count).toBeLessThan(ph?.samples ?? 0);
    if (ph?.new_connection_count) expect(ph.connect_ms?.p95).toBeGreaterThanOrEqual(ph.connect_ms?.p50 ?? 0);
    else expect(ph?.connect_ms).toBeUndefined();
    expect(ph?.tls_ms).toBeUndefined();
    expect(ph?.ttfb_ms?.p50).toBe(hls.result.metrics.segment_ttfb_p50_ms);
    expect(ph?.transfer_ms?.p95).toBeTypeOf('number');
    const dash = await scenario(undefined, { stream: 'dash', runS: 10 });
    expect(dash.result.findings).toEqual([]);
    expect(dash.result.outcome).toBe('ok');
    // 3 video, audio and the WebVTT text Representation.
    expect(dash.result.reasons.join('\n')).toMatch(/\b5 rendition\(s\) conform/);
  }, 60_000);

  it('stale rendition', async () => {
    const o = await scenario({ rendition: BAD, type: 'stale' });
    const [f] = on(o, 'playlist-stale');
    expect(f?.variant).toContain(BAD);
    expect(f?.evidence).toContain('#EXT-X-MEDIA-SEQUENCE:');
    expectOnlyBad(o);
  }, 60_000);

  it('media sequence regression', async () => {
    const o = await scenario({ rendition: BAD, type: 'mseq-regress', by: 3 });
    expect(on(o, 'mseq-regression')[0]?.variant).toContain(BAD);
    expectOnlyBad(o);
  }, 60_000);

  it('a segment dropped from the playlist', async () => {
    const o = await scenario({ rendition: BAD, type: 'drop-segment' });
    expect(on(o, 'segment-continuity')[0]?.variant).toContain(BAD);
    expectOnlyBad(o);
  }, 60_000);

  it('a discontinuity on one rendition', async () => {
    const o = await scenario({ rendition: BAD, type: 'discontinuity' });
    const [f] = on(o, 'discontinuity-sequence');
    expect(f?.variant).toContain(BAD);
    expect(f?.evidence).toContain('#EXT-X-DISCONTINUITY');
    expectOnlyBad(o);
  }, 60_000);

  it('a PDT jump', async () => {
    const o = await scenario({ rendition: BAD, type: 'pdt-jump', offsetMs: 10_000 });
    expect(on(o, 'pdt-drift')[0]?.variant).toContain(BAD);
    expectOnlyBad(o);
  }, 60_000);

  it('segment 404', async () => {
    const o = await scenario({ rendition: BAD, type: 'status', code: 404, on: 'segments' });
    const [f] = on(o, 'http-status');
    expect(f?.variant).toContain(BAD);
    expect(f?.evidence).toContain('HTTP 404');
    expectOnlyBad(o);
  }, 60_000);

  it('throttled segments', async () => {
    const o = await scenario({ rendition: BAD, type: 'throttle', bytesPerSecond: 8000 });
    expect(o.result.reasons.some((r) => r.includes(BAD) && r.includes('segment-slow'))).toBe(true);
    expect(o.result.outcome).toBe('degraded');
    expectOnlyBad(o);
  }, 60_000);

  it('ENDLIST mid-event', async () => {
    const o = await scenario({ rendition: BAD, type: 'endlist' });
    const [f] = on(o, 'endlist-in-live');
    expect(f?.variant).toContain(BAD);
    expect(f?.severity).toBe('critical');
    expectOnlyBad(o);
  }, 60_000);

  it('a master returning 500', async () => {
    const o = await scenario({ type: 'status', code: 500, on: 'playlists' }, { afterS: 0, runS: 5 });
    const [f] = on(o, 'http-status');
    expect(f?.variant).toBe('master');
    expect(f?.evidence).toContain('HTTP 500');
    expectOnlyBad(o, 'master');
    expect(o.result.outcome).toBe('failed');
  }, 60_000);

  it('a watch reports a new critical finding at once, not at the end of its interval', async () => {
    const intervals: ProbeResult[] = [];
    const p = new StreamProber({ masterIntervalS: 1, logger });
    const timer = setTimeout(
      () => tb.faults.inject({ stream: 'hls-ts', rendition: BAD, type: 'stale' } as never),
      2000,
    );
    try {
      const summary = await p.run(
        {
          target: { id: 'tb-watch', url: url('hls-ts'), protocol: 'hls' },
          mode: 'watch',
          intervalS: 60,
          durationS: 12,
          expectations: {},
        },
        { signal: new AbortController().signal, logger, onInterval: (r) => intervals.push(r) },
      );
      // A 12 s watch with a 60 s interval has no regular interval report: each one here is an early one.
      expect(intervals.length).toBeGreaterThanOrEqual(1);
      const stale = intervals[0]?.findings.find((f) => f.code === 'playlist-stale');
      expect(stale?.variant).toContain(BAD);
      expect(summary.findings.some((f) => f.code === 'playlist-stale')).toBe(true);
      // The stale episode goes on, but it is not news again: at most one early report for it.
      expect(intervals.filter((r) => r.findings.some((f) => f.code === 'playlist-stale'))).toHaveLength(1);
    } finally {
      clearTimeout(timer);
      tb.faults.clear();
      await p.close();
      await new Promise((r) => setTimeout(r, 2 * TD * 1000));
    }
  }, 60_000);

  it('DASH: an MPD that stops updating', async () => {
    const o = await scenario({ type: 'mpd-stale' }, { stream: 'dash' });
    expect(on(o, 'mpd-stale')[0]?.variant).toBe('mpd');
  }, 60_000);

  it('DASH: segments of one representation 404', async () => {
    const o = await scenario({ rendition: BAD, type: 'segment-404' }, { stream: 'dash' });
    const rep = tb.streams
      .find((x) => x.id === 'dash')
      ?.renditions.find((r) => r.name === BAD)?.representationId;
    const fs = on(o, 'dash-availability');
    expect(fs.map((f) => f.variant)).toEqual([String(rep)]);
    expect(fs[0]?.evidence).toContain('HTTP 404');
  }, 60_000);

  // Issue #21: the WebVTT rendition is followed like any other; captions that stop are a warning on it.
  it('captions-stale: the subtitle playlist stops advancing', async () => {
    const o = await scenario({ type: 'captions-stale' });
    const [f] = on(o, 'captions-stale');
    expect(f?.variant).toBe('subs/index.m3u8');
    expect(f?.severity).toBe('warning');
    expect(on(o, 'playlist-stale')).toEqual([]);
    expectOnlyBad(o, 'subs/');
  }, 60_000);

  it('captions-stale (DASH): the text Representation repeats old cues under new numbers', async () => {
    const o = await scenario({ type: 'captions-stale' }, { stream: 'dash', runS: 12 });
    const rep = tb.streams
      .find((x) => x.id === 'dash')
      ?.renditions.find((r) => r.type === 'subtitles')?.representationId;
    const fs = on(o, 'captions-stale');
    expect(fs.map((f) => f.variant)).toEqual([String(rep)]);
    expect(fs[0]?.severity).toBe('warning');
    expect(fs[0]?.evidence).toMatch(/sub-\d+\.vtt/);
    expect(on(o, 'dash-availability').filter((f) => f.variant === String(rep))).toEqual([]);
  }, 60_000);

  it('bitrate-over: a rendition above its BANDWIDTH (HLS), measured from segment sizes', async () => {
    const o = await scenario({ rendition: BAD, type: 'bitrate-over', factor: 3 });
    const [f] = on(o, 'bandwidth-exceeded');
    expect(f?.variant).toContain(BAD);
    expect(f?.evidence).toMatch(/> BANDWIDTH \d+ kbit\/s/);
    expect(o.result.metrics.bandwidth_peak_ratio).toBeGreaterThan(2);
    expectOnlyBad(o);
  }, 60_000);

  it('bitrate-over: a representation above its @bandwidth (DASH)', async () => {
    const o = await scenario(
      { rendition: BAD, type: 'bitrate-over', factor: 4 },
      { stream: 'dash', runS: 14 },
    );
    const rep = tb.streams
      .find((x) => x.id === 'dash')
      ?.renditions.find((r) => r.name === BAD)?.representationId;
    expect(on(o, 'bandwidth-exceeded').map((f) => f.variant)).toEqual([String(rep)]);
    // Only the padded representation is over (a loaded machine may add dash-availability noise elsewhere).
    expect(o.result.metrics.bandwidth_peak_ratio).toBeGreaterThan(1.5);
  }, 60_000);
});

describe('stream probe on the real testbed, long watch', () => {
  const td = Number(process.env.STREAM_SOAK_TD ?? 2);
  beforeAll(async () => {
    tb = await startTestbed({ port: 0, ladder: 'full', segmentS: td, windowSize: 6, logger });
  }, 90_000);

  afterAll(async () => {
    await tb?.stop();
  });

  it(
    `a healthy stream watched for ${soakS} s at TD ${td} s: no finding at all`,
    async () => {
      const o = await scenario(undefined, { runS: soakS });
      const seen = o.result.findings.map((f) => `${f.code} ${f.variant} x${f.count}\n${f.evidence}`);
      expect(seen).toEqual([]);
      expect(o.result.outcome).toBe('ok');
    },
    (soakS + 120) * 1000,
  );
});

/**
 * End to end over real HTTP against the synthetic loopback origin: one stream per fault, all probed at once
 * by one StreamProber (TD 1 s to keep it short). Each fault hits one rendition; the finding must name that
 * rendition (or the master) with evidence, and the healthy renditions must have no finding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { type Finding, ProbeResult } from '../../shared/schemas.js';
import { StreamProber } from './index.js';
import { type FaultSpec, type SyntheticOrigin, startSyntheticOrigin } from './testing/origin.js';

const TD = 1;
const RUN_S = 8;
const INJECT_AT_MS = 3000;
const RENDITIONS = ['720p', '480p', '360p'];
const BAD = '480p';

interface Scenario {
  fault?: Omit<FaultSpec, 'stream'>;
  protocol?: 'hls' | 'dash';
}

const SCENARIOS: Record<string, Scenario> = {
  healthy: {},
  stale: { fault: { rendition: BAD, type: 'stale' } },
  endlist: { fault: { rendition: BAD, type: 'endlist' } },
  pdtjump: { fault: { rendition: BAD, type: 'pdt-jump', ms: 5000 } },
  extinf: { fault: { rendition: BAD, type: 'extinf-over' } },
  seg404: { fault: { rendition: BAD, type: 'status', status: 404, what: 'segment' } },
  master500: { fault: { rendition: 'master', type: 'status', status: 500 } },
  mseq: { fault: { rendition: BAD, type: 'mseq-regress', by: 3 } },
  discjump: { fault: { rendition: BAD, type: 'discontinuity', by: 2 } },
  disctag: { fault: { rendition: BAD, type: 'discontinuity-tag' } },
  drop: { fault: { rendition: BAD, type: 'drop-segment' } },
  throttle: { fault: { rendition: BAD, type: 'throttle', bytesPerSecond: 2000 } },
  playlist404: { fault: { rendition: BAD, type: 'status', status: 404, what: 'playlist' } },
  watchstale: { fault: { rendition: BAD, type: 'stale' } },
  dashHealthy: { protocol: 'dash' },
  dashStale: { protocol: 'dash', fault: { type: 'mpd-stale' } },
  dashPublish: { protocol: 'dash', fault: { type: 'publish-time-regress' } },
  dashAst: { protocol: 'dash', fault: { type: 'ast-shift', ms: 8000 } },
  dash404: { protocol: 'dash', fault: { rendition: BAD, type: 'status', status: 404, what: 'segment' } },
};

let origin: SyntheticOrigin;
let prober: StreamProber;
const results: Record<string, ProbeResult> = {};
const firstSeen: Record<string, Finding[]> = {};
const injectedAt: Record<string, number> = {};
let watchIntervals: ProbeResult[] = [];
let watchSummary: ProbeResult | undefined;
const staleIntervals: ProbeResult[] = [];

function variantOf(name: string, protocol: 'hls' | 'dash' = 'hls'): string {
  return protocol === 'dash' ? name : `${name}.m3u8`;
}

beforeAll(async () => {
  origin = await startSyntheticOrigin({
    streams: Object.entries(SCENARIOS).map(([id, s]) => ({
      id,
      protocol: s.protocol ?? 'hls',
      renditions: RENDITIONS,
      audio: s.protocol !== 'dash',
      td: TD,
      window: 6,
      segmentBytes: 4000,
    })),
  });
  prober = new StreamProber({
    masterIntervalS: 1,
    logger: createLogger('stream-e2e', 'silent'),
    onFinding: (f, target) => {
      firstSeen[target] ??= [];
      firstSeen[target].push(f);
    },
  });
  const ctx = () => ({ signal: new AbortController().signal, logger: createLogger('stream-e2e', 'silent') });
  const runs = Object.entries(SCENARIOS)
    .filter(([id]) => id !== 'watchstale')
    .map(async ([id, s]) => {
      const protocol = s.protocol ?? 'hls';
      const url = protocol === 'dash' ? origin.mpdUrl(id) : origin.masterUrl(id);
      if (s.fault) {
        const fault = s.fault;
        setTimeout(() => {
          injectedAt[id] = Date.now();
          origin.inject({ stream: id, ...fault });
        }, INJECT_AT_MS);
      }
      results[id] = await prober.run(
        { target: { id, url, protocol }, mode: 'check', durationS: RUN_S, expectations: {} },
        ctx(),
      );
    });
  // A watch on the healthy stream, stopped by abort: interval reports, then the summary.
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 4500);
  const watch = prober
    .run(
      {
        target: { id: 'watch', url: origin.masterUrl('healthy'), protocol: 'hls' },
        mode: 'watch',
        durationS: 60,
        intervalS: 2,
        expectations: {},
      },
      {
        signal: ac.signal,
        logger: createLogger('stream-e2e', 'silent'),
        onInterval: (r) => watchIntervals.push(r),
      },
    )
    .then((r) => {
      watchSummary = r;
    });
  // A watch over a rendition that goes stale and stays so: every interval after the onset says so.
  setTimeout(() => origin.inject({ stream: 'watchstale', rendition: BAD, type: 'stale' }), 1500);
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), 8500);
  const watch2 = prober.run(
    {
      target: { id: 'watchstale', url: origin.masterUrl('watchstale'), protocol: 'hls' },
      mode: 'watch',
      durationS: 60,
      intervalS: 2,
      expectations: {},
    },
    {
      signal: ac2.signal,
      logger: createLogger('stream-e2e', 'silent'),
      onInterval: (r) => staleIntervals.push(r),
    },
  );
  await Promise.all([...runs, watch, watch2]);
  if (process.env.STREAM_E2E_DUMP) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(process.env.STREAM_E2E_DUMP, JSON.stringify(results, null, 1));
  }
}, 60_000);

afterAll(async () => {
  await prober?.close();
  await origin?.close();
  watchIntervals = [];
});

function findings(id: string, code: string): Finding[] {
  return (results[id]?.findings ?? []).filter((f) => f.code === code);
}

function expectOnlyOn(id: string, variant: string): void {
  const others = (results[id]?.findings ?? []).filter((f) => f.variant !== variant);
  expect(others, `findings on healthy renditions of ${id}`).toEqual([]);
}

describe('stream probe against a live loopback origin', () => {
  it('every result validates against the report schema', () => {
    for (const [id, r] of Object.entries(results)) {
      const parsed = ProbeResult.safeParse(r);
      expect(parsed.success, `${id}: ${parsed.error?.message}`).toBe(true);
    }
  });

  it('a healthy HLS stream: no finding, outcome ok, segment timings and availability delay', () => {
    const r = results.healthy!;
    expect(r.findings).toEqual([]);
    expect(r.outcome).toBe('ok');
    expect(r.metrics.segments_total).toBeGreaterThan(10);
    expect(r.metrics.segment_ttfb_p50_ms).toBeGreaterThanOrEqual(0);
    expect(r.metrics.segment_availability_delay_p50_ms).toBeDefined();
    expect(r.segments.some((s) => s.rendition === '480p.m3u8')).toBe(true);
  });

  it('a single stale rendition is caught within about 2 x TD, the others stay clean', () => {
    const [f] = findings('stale', 'playlist-stale');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.severity).toBe('critical');
    expect(f?.evidence).toContain('#EXT-X-MEDIA-SEQUENCE:');
    expect(f?.evidence).toMatch(/480p\/seg_\d+\.ts/);
    const seen = firstSeen.stale!.find((x) => x.code === 'playlist-stale')!;
    // Loose bound (the bench measures the real figure): under 4 x TD after injection.
    expect(seen.at - injectedAt.stale!).toBeLessThan(4 * TD * 1000);
    const codes = new Set(results.stale!.findings.map((x) => x.code));
    expect(
      [...codes].every((c) => ['playlist-stale', 'last-modified-stale', 'variant-mseq-drift'].includes(c)),
    ).toBe(true);
    expectOnlyOn('stale', variantOf(BAD));
    expect(results.stale!.outcome).toBe('degraded');
  });

  it('ENDLIST mid-event', () => {
    const [f] = findings('endlist', 'endlist-in-live');
    expect(f).toMatchObject({ variant: variantOf(BAD), severity: 'critical', count: 1 });
    expect(f?.evidence).toContain('#EXT-X-ENDLIST');
    expectOnlyOn('endlist', variantOf(BAD));
  });

  it('a PDT jump', () => {
    const [f] = findings('pdtjump', 'pdt-drift');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toContain('+5000 ms');
    expect(f?.evidence).toContain('#EXT-X-PROGRAM-DATE-TIME:');
    expectOnlyOn('pdtjump', variantOf(BAD));
  });

  it('EXTINF over the target duration', () => {
    const [f] = findings('extinf', 'extinf-over-target');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toContain('#EXT-X-TARGETDURATION:1');
    expect(f?.evidence).toContain('#EXTINF:1.800,');
    expectOnlyOn('extinf', variantOf(BAD));
  });

  it('a segment 404', () => {
    const [f] = findings('seg404', 'http-status');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toContain('HTTP 404');
    expect(f?.evidence).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/hls\/seg404\/480p\/seg_\d+\.ts/);
    expect(f?.evidence).toMatch(/#EXTINF:1\.000,\n480p\/seg_\d+\.ts/);
    expect(results.seg404!.metrics.errors_http).toBeGreaterThan(0);
    expectOnlyOn('seg404', variantOf(BAD));
  });

  it('a master returning 500', () => {
    const [f] = findings('master500', 'http-status');
    expect(f).toMatchObject({ variant: 'master', severity: 'critical' });
    expect(f?.evidence).toContain('HTTP 500');
    expect(f?.evidence).toContain('/hls/master500/master.m3u8');
    expectOnlyOn('master500', 'master');
  });

  it('a media playlist returning 404', () => {
    const [f] = findings('playlist404', 'http-status');
    expect(f).toMatchObject({ variant: variantOf(BAD), severity: 'critical' });
    expect(f?.evidence).toContain('media playlist: HTTP 404');
    expectOnlyOn('playlist404', variantOf(BAD));
  });

  it('a media sequence regression', () => {
    const [f] = findings('mseq', 'mseq-regression');
    expect(f).toMatchObject({ variant: variantOf(BAD), severity: 'critical' });
    expect(f?.evidence).toMatch(/went back from (\d+) to (\d+)/);
    expectOnlyOn('mseq', variantOf(BAD));
  });

  it('a discontinuity sequence jump', () => {
    const [f] = findings('discjump', 'discontinuity-sequence');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:2');
    expectOnlyOn('discjump', variantOf(BAD));
  });

  it('a discontinuity on one rendition only (conformant by itself, not across renditions)', () => {
    const [f] = findings('disctag', 'discontinuity-sequence');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toContain('#EXT-X-DISCONTINUITY\n');
    expectOnlyOn('disctag', variantOf(BAD));
  });

  it('a segment dropped from the playlist', () => {
    const [f] = findings('drop', 'segment-continuity');
    expect(f?.variant).toBe(variantOf(BAD));
    expect(f?.evidence).toMatch(/480p\/seg_\d+\.ts/);
    expectOnlyOn('drop', variantOf(BAD));
  });

  it('a throttled rendition: a segment-slow finding names it and the outcome is degraded', () => {
    const r = results.throttle!;
    expect(r.outcome).toBe('degraded');
    expect(r.reasons.some((x) => x.startsWith('480p.m3u8: segment-slow'))).toBe(true);
    expect(r.findings.map((f) => [f.code, f.variant])).toEqual([['segment-slow', '480p.m3u8']]);
    const slow = r.segments.filter((s) => s.rendition === '480p.m3u8');
    expect(Math.max(...slow.map((s) => s.download_ms))).toBeGreaterThan(TD * 1000);
  });

  it('a healthy DASH stream: no finding', () => {
    const r = results.dashHealthy!;
    expect(r.findings).toEqual([]);
    expect(r.outcome).toBe('ok');
    expect(r.metrics.segments_total).toBeGreaterThan(5);
  });

  it('DASH: an MPD that stops updating', () => {
    const [f] = findings('dashStale', 'mpd-stale');
    expect(f).toMatchObject({ variant: 'mpd', severity: 'critical' });
    expect(f?.evidence).toContain('<S t=');
    expect(results.dashStale!.outcome).toBe('failed');
  });

  it('DASH: publishTime going back', () => {
    const [f] = findings('dashPublish', 'publish-time-regression');
    expect(f?.variant).toBe('mpd');
    expect(f?.evidence).toContain('publishTime=');
  });

  it('DASH: a wrong availabilityStartTime puts the live edge ahead of the UTCTiming clock', () => {
    const fs = findings('dashAst', 'dash-availability');
    expect(fs.map((f) => f.variant).sort()).toEqual([...RENDITIONS].sort());
    expect(fs[0]?.evidence).toContain('availabilityStartTime=');
    expect(fs[0]?.evidence).toContain('UTCTiming');
  });

  it('DASH: the live-edge segment of one representation is not available', () => {
    const fs = findings('dash404', 'dash-availability');
    expect(fs.map((f) => f.variant)).toEqual([BAD]);
    expect(fs[0]?.evidence).toContain('HTTP 404');
  });

  it('watch mode: an ongoing stale episode is in every interval report after its onset, counted once', () => {
    const flags = staleIntervals.map((r) =>
      r.findings.some((f) => f.code === 'playlist-stale' && f.variant === variantOf(BAD)),
    );
    const onset = flags.indexOf(true);
    expect(onset).toBeGreaterThanOrEqual(0);
    expect(flags.slice(onset).every(Boolean), JSON.stringify(flags)).toBe(true);
    expect(flags.length - onset).toBeGreaterThanOrEqual(2);
    for (const r of staleIntervals.slice(onset)) expect(r.outcome).not.toBe('ok');
  });

  it('watch mode: interval reports while running, the summary on abort', () => {
    expect(watchIntervals.length).toBeGreaterThanOrEqual(1);
    for (const r of watchIntervals) expect(ProbeResult.safeParse(r).success).toBe(true);
    expect(watchSummary?.mode).toBe('watch');
    expect(watchSummary?.outcome).toBe('ok');
    expect(Date.parse(watchSummary!.endedAt) - Date.parse(watchSummary!.startedAt)).toBeLessThan(30_000);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { ProbeResult } from '../../shared/schemas.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import type { ProbeJob } from '../types.js';
import { NOTICE_DETAILS } from './aggregate.js';
import { BrowserProber } from './index.js';

/**
 * The full testbed ladder (360p/240p/144p + an audio group, as HLS TS and HLS fMP4): fMP4 with init segments,
 * rendition names, pinning and capping. One window at a time.
 */
const logger = createLogger('browser-ladder-e2e', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');

let testbed: Testbed;
let prober: BrowserProber;

const url = (id: string) => {
  const s = testbed.streams.find((x) => x.id === id);
  if (!s) throw new Error(`testbed has no ${id} stream`);
  return s.url;
};
const job = (u: string, over: Partial<ProbeJob> = {}): ProbeJob => ({
  target: { id: 'ladder', url: u, protocol: u.endsWith('.mpd') ? 'dash' : 'hls' },
  durationS: 10,
  mode: 'check',
  expectations: {},
  ...over,
});
const ctx = () => ({ signal: new AbortController().signal, logger });
const mainRenditions = (r: ProbeResult) =>
  new Set(r.segments.map((s) => s.rendition).filter((n) => n !== 'audio'));
const rendition = (stream: string, name: string) => {
  const x = testbed.streams.find((s) => s.id === stream)?.renditions.find((v) => v.name === name);
  if (!x) throw new Error(`testbed ${stream} has no ${name}`);
  return x;
};
/**
 * Time at each rendition: only the allowed ones, and all of it playing time, which fits in the run after the
 * first frame once stalls are taken out (the report's own bounds, not a timing).
 */
function expectRenditionTime(r: ProbeResult, allowed: string[]): number {
  const rs = r.renditions ?? [];
  expect(rs.length).toBeGreaterThan(0);
  for (const x of rs) expect(allowed).toContain(x.rendition);
  const sum = rs.reduce((a, x) => a + x.time_ms, 0);
  expect(sum).toBeGreaterThan(0);
  const run = Date.parse(r.endedAt) - Date.parse(r.startedAt);
  expect(sum + (r.metrics.stall_ms ?? 0)).toBeLessThanOrEqual(run - (r.metrics.startup_ms ?? 0) + 1);
  return sum;
}

beforeAll(async () => {
  testbed = await startTestbed({ port: 0, ladder: 'full', logger });
  prober = new BrowserProber({ logger });
});

afterAll(async () => {
  await prober?.close();
  await testbed?.stop();
});

describe('browser probe on a bitrate ladder', () => {
  it('HLS fMP4 (init segments, alternate audio) plays with g2g and PDT agreeing', async () => {
    const r = await prober.run(job(url('hls-fmp4'), { durationS: 14 }), ctx());
    ProbeResult.parse(r);
    const m = r.metrics;
    console.log(
      JSON.stringify({ fmp4: { startup: r.startup, metrics: m, renditions: [...mainRenditions(r)] } }),
    );
    expect(r.outcome).toBe('ok');
    expect(r.segments.some((s) => /init\.mp4$/.test(s.url))).toBe(false);
    expect(r.segments.filter((s) => s.rendition !== 'audio').length).toBeGreaterThanOrEqual(3);
    for (const name of mainRenditions(r)) expect(name).toMatch(/^\d+p$/);
    expectRenditionTime(r, ['360p', '240p', '144p']);
    for (const x of r.renditions ?? []) expect(x.height).toBe(Number.parseInt(x.rendition, 10));
    expect(Math.abs((m.g2g_p50_ms as number) - (m.pdt_latency_p50_ms as number))).toBeLessThanOrEqual(150);
    expect(m.stall_count).toBe(0);
    // Issue #21: the WebVTT rendition is selected (hidden) and its one cue a second counted.
    expect(m.caption_cues_per_min).toBeGreaterThan(30);
  });

  // dash.js comes from the dashjs package (or LIVEPROBE_DASHJS); without it this test fails (a probe-error, see dashjs.test.ts), never skips.
  it('DASH with dash.js: UTCTiming from the stream, dash latency and g2g agree, skew counted not clamped', async () => {
    // The agent's clock estimate says it runs 20 s ahead of the reference: both latency figures are corrected
    // by it, so the dash.js latency (a few seconds raw) goes negative: counted as skew, never clamped to 0.
    const SKEW_MS = 20_000;
    const clock = () => ({ offsetMs: SKEW_MS, uncertaintyMs: 5, rttMs: 10, at: Date.now() });
    const r = await prober.run(job(url('dash'), { durationS: 15 }), { ...ctx(), clock });
    ProbeResult.parse(r);
    const m = r.metrics;
    console.log(
      JSON.stringify({
        dash: {
          outcome: r.outcome,
          reasons: r.reasons,
          startup: r.startup,
          metrics: m,
          renditions: r.renditions,
        },
      }),
    );
    // dash.js plays at the latency the MPD asks for and may take short stalls doing so: measured, not hidden.
    expect(['ok', 'degraded']).toContain(r.outcome);
    expect(r.latency_method).toBe('stamp');
    expect(m.dash_latency_p50_ms).toBeTypeOf('number');
    expect(m.g2g_p50_ms).toBeTypeOf('number');
    expect(Math.abs((m.g2g_p50_ms as number) - (m.dash_latency_p50_ms as number))).toBeLessThanOrEqual(150);
    expect(m.dash_latency_p50_ms).toBeLessThan(0);
    expect(m.clock_skew_negative).toBeGreaterThan(0);
    expect(m.clock_uncertainty_ms).toBe(5);
    expect(m.startup_ms).toBeGreaterThan(50);
    const s = r.startup ?? {};
    for (const k of [
      'manifest_ms',
      'first_segment_ttfb_ms',
      'first_segment_ms',
      'first_buffered_ms',
    ] as const) {
      expect(s[k]).toBeTypeOf('number');
      expect(s[k] as number).toBeLessThanOrEqual(m.startup_ms as number);
    }
    expect(r.segments.filter((x) => x.rendition !== 'audio').length).toBeGreaterThanOrEqual(3);
    expect(r.segments.some((x) => /init/.test(x.url))).toBe(false);
    expect(m.stall_count).toBeTypeOf('number');
    expectRenditionTime(r, ['360p', '240p', '144p']);
    // Issue #21: dash.js plays the MPD's text/vtt AdaptationSet; its cues are counted.
    expect(m.caption_cues_per_min).toBeGreaterThan(30);
  });

  it('ABR: throttling the top rendition at the origin makes hls.js switch down (switches > 0)', async () => {
    const top = rendition('hls-ts', '360p');
    const since = Date.now();
    let throttled: string | undefined;
    const ac = new AbortController();
    const r = await prober.run(job(url('hls-ts'), { mode: 'watch', durationS: 60, intervalS: 2 }), {
      signal: ac.signal,
      logger,
      onInterval: (ir) => {
        // Once playing, the 800 kbit/s rendition is served at a quarter of its rate; stop once ABR moved.
        if (!throttled && ir.metrics.startup_ms !== undefined)
          throttled = testbed.faults.inject({
            stream: 'hls-ts',
            rendition: '360p',
            type: 'throttle',
            bytesPerSecond: Math.round(top.bandwidth / 8 / 4),
          }).id;
        else if (throttled && (ir.metrics.bitrate_switches ?? 0) > 0) ac.abort();
      },
    });
    if (throttled) testbed.faults.remove(throttled);
    ProbeResult.parse(r);
    console.log(
      JSON.stringify({
        abr: { metrics: r.metrics, renditions: r.renditions, errors: r.errors, notices: r.notices },
      }),
    );
    expect(testbed.faults.log(since).some((e) => e.type === 'throttle' && e.rendition === '360p')).toBe(true);
    expect(r.metrics.bitrate_switches).toBeGreaterThan(0);
    // It went down the ladder: time at a lower rendition, and lower renditions' segments were loaded.
    const lower = (r.renditions ?? []).filter((x) => x.rendition !== '360p' && x.time_ms > 0);
    expect(lower.length).toBeGreaterThan(0);
    expect(r.segments.some((x) => x.rendition === '240p' || x.rendition === '144p')).toBe(true);
    // hls.js's non-fatal housekeeping around a switch (e.g. bufferAppendNoProgress) is a notice, not an error.
    for (const e of r.errors) expect(NOTICE_DETAILS.has(e.details.split(':')[0] ?? '')).toBe(false);
    expect(r.metrics.errors_player).toBe(r.errors.filter((e) => e.category === 'player').length);
    for (const n of r.notices ?? []) expect(NOTICE_DETAILS.has(n.type)).toBe(true);
  });

  it('pinning a rendition loads only that rendition, and the clock still decodes at 144p', async () => {
    const r = await prober.run(job(url('hls-ts'), { rendition: { pinHeight: 144 } }), ctx());
    ProbeResult.parse(r);
    expect(r.outcome).toBe('ok');
    expect([...mainRenditions(r)]).toEqual(['144p']);
    for (const x of r.segments.filter((v) => v.rendition !== 'audio')) expect(x.url).toMatch(/\/144p\//);
    expect(r.metrics.bitrate_switches).toBe(0);
    expect(r.latency_method).toBe('stamp');
    expect(r.metrics.g2g_p50_ms).toBeTypeOf('number');
    expectRenditionTime(r, ['144p']);
    expect(r.renditions).toEqual([
      {
        rendition: '144p',
        height: 144,
        // The master playlist's BANDWIDTH (ffmpeg measures it, TS overhead included).
        bitrate: expect.any(Number),
        time_ms: expect.any(Number),
      },
    ]);
  });

  it('capping ABR keeps it at or below the cap; a pin that matches nothing is a probe-error naming the heights', async () => {
    const capped = await prober.run(job(url('hls-ts'), { rendition: { maxHeight: 240 } }), ctx());
    expect(capped.outcome).toBe('ok');
    for (const name of mainRenditions(capped)) expect(['240p', '144p']).toContain(name);
    expectRenditionTime(capped, ['240p', '144p']);

    // The job asked for what the stream does not have: the probe's configuration, not a stream failure.
    const missing = await prober.run(job(url('hls-ts'), { rendition: { pinHeight: 1080 } }), ctx());
    expect(missing.outcome).toBe('probe-error');
    expect(missing.reasons[0]).toMatch(
      /renditionNotFound: no rendition with height 1080 \(have 144, 240, 360\)/,
    );
    expect(missing.errors[0]?.details).toMatch(/no rendition with height 1080 \(have 144, 240, 360\)/);
  });

  it('DASH: pinning loads and shows only that Representation, all the playing time at it', async () => {
    const pinned = rendition('dash', '144p');
    const r = await prober.run(job(url('dash'), { durationS: 12, rendition: { pinHeight: 144 } }), ctx());
    ProbeResult.parse(r);
    console.log(
      JSON.stringify({ dashPinned: { outcome: r.outcome, reasons: r.reasons, renditions: r.renditions } }),
    );
    expect(['ok', 'degraded']).toContain(r.outcome);
    const video = r.segments.filter((x) => x.rendition !== 'audio');
    expect(video.length).toBeGreaterThanOrEqual(3);
    expect([...mainRenditions(r)]).toEqual(['144p']);
    // Independently of how the probe names renditions: every video segment is that Representation's.
    for (const x of video) expect(x.url).toContain(`chunk-stream${pinned.representationId}-`);
    expect(r.metrics.bitrate_switches).toBe(0);
    expectRenditionTime(r, ['144p']);
    expect(r.renditions).toEqual([
      { rendition: '144p', height: 144, bitrate: pinned.bandwidth, time_ms: expect.any(Number) },
    ]);
  });

  it('DASH: a cap keeps ABR at or below it; a pin that matches nothing is a probe-error naming the heights', async () => {
    const capped = await prober.run(
      job(url('dash'), { durationS: 12, rendition: { maxHeight: 240 } }),
      ctx(),
    );
    ProbeResult.parse(capped);
    console.log(JSON.stringify({ dashCapped: { outcome: capped.outcome, renditions: capped.renditions } }));
    expect(['ok', 'degraded']).toContain(capped.outcome);
    expect(capped.segments.filter((x) => x.rendition !== 'audio').length).toBeGreaterThanOrEqual(3);
    for (const name of mainRenditions(capped)) expect(['240p', '144p']).toContain(name);
    const top = rendition('dash', '360p').representationId;
    for (const x of capped.segments) expect(x.url).not.toContain(`chunk-stream${top}-`);
    expectRenditionTime(capped, ['240p', '144p']);

    const missing = await prober.run(job(url('dash'), { rendition: { pinHeight: 1080 } }), ctx());
    expect(missing.outcome).toBe('probe-error');
    expect(missing.reasons[0]).toMatch(
      /renditionNotFound: no rendition with height 1080 \(have 144, 240, 360\)/,
    );
    expect(missing.errors.filter((e) => e.fatal).map((e) => e.type)).toEqual(['probeConfig']);
    expect(missing.segments.filter((x) => x.rendition !== 'audio')).toEqual([]);
  });
});

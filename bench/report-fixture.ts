/** A report as a browser probe on a busy fleet sends it: 10 segments, a startup breakdown, one degraded in 50. */
import { sketchesOf } from '../shared/sample-sketch.js';
import type { Report } from '../shared/schemas.js';

const REGIONS = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south', 'sa-east'];

export function realisticReport(i: number, targets: number, endedAt = Date.now()): Report {
  const target = `ch${i % targets}`;
  const region = REGIONS[i % REGIONS.length] as string;
  const startup = 600 + (i % 400);
  return {
    id: `bench-${i}:0`,
    jobId: `bench-${i}`,
    seq: 0,
    sweepId: 'bench',
    target: { id: target, url: `https://cdn.example.com/live/${target}/master.m3u8`, protocol: 'hls' },
    region,
    agentId: `agent-${region}-1`,
    probe: i % 4 === 0 ? 'stream' : 'browser',
    mode: 'check',
    startedAt: new Date(endedAt - 30_000).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    outcome: i % 50 === 0 ? 'degraded' : 'ok',
    reasons: i % 50 === 0 ? ['startup 4100 ms > 4000 ms expected'] : [],
    latency_method: 'stamp',
    metrics: {
      startup_ms: startup,
      manifest_ms: 80,
      first_segment_ms: 310,
      segments_total: 15,
      segment_ttfb_p50_ms: 22,
      segment_ttfb_p95_ms: 60,
      segment_download_p50_ms: 45,
      segment_download_p95_ms: 120,
      segment_throughput_p50_kbps: 18_000,
      g2g_p50_ms: 4100 + (i % 300),
      g2g_p95_ms: 4200 + (i % 300),
      g2g_max_ms: 4300 + (i % 300),
      pdt_latency_p50_ms: 4090 + (i % 300),
      pdt_latency_p95_ms: 4190 + (i % 300),
      stall_count: 0,
      stall_ms: 0,
      rebuffer_ratio: 0,
      dropped_frames: 0,
      total_frames: 900,
      bitrate_switches: 1,
      errors_http: 0,
      errors_network: 0,
      errors_player: 0,
      clock_offset_ms: 3,
    },
    startup: {
      manifest_ms: 80,
      media_playlist_ms: 150,
      first_segment_ttfb_ms: 200,
      first_segment_ms: 310,
      first_buffered_ms: 420,
      first_frame_ms: startup,
    },
    errors: [],
    findings: [],
    version: '0.1.0',
    // Last, as agents send it (the schema's order).
    segments: Array.from({ length: 10 }, (_, k) => ({
      at: endedAt - 30_000 + k * 2000,
      rendition: '360p',
      sn: 1000 + k,
      url: `https://cdn.example.com/live/${target}/360p/seg${1000 + k}.ts?token=redacted`,
      bytes: 200_000,
      ttfb_ms: 20 + k,
      download_ms: 40 + k,
    })),
  };
}

/** The scale bench's fleet (bench/scale.ts): region r is `r<r>` (agent `agent-r<r>`), target t is `t<t>`. */
export const regionName = (r: number) => `r${r}`;
export const targetName = (t: number) => `t${t}`;

/** A realistic report of target t in region r, the n-th of that series (ids unique per bench phase). */
export function fleetReport(tag: string, r: number, t: number, n: number, endedAt = Date.now()): Report {
  const base = realisticReport(r * 1000 + t + n, 1, endedAt);
  const region = regionName(r);
  const target = targetName(t);
  // The probe kind belongs to the series: realisticReport's varies with its i, which here includes n (so
  // later passes opened a new target x region x probe series for half the reports).
  const probe = (r * 1000 + t) % 4 === 0 ? 'stream' : 'browser';
  // A watch's interval report: stream probes report every few seconds, browser checks less often.
  const id = `${tag}-${region}-${target}-${n}`;
  return {
    ...base,
    id: `${id}:1`,
    jobId: id,
    seq: 1,
    sweepId: undefined,
    mode: 'watch',
    probe,
    region,
    agentId: `agent-${region}`,
    target: { id: target, url: `https://cdn.example.com/live/${target}/master.m3u8`, protocol: 'hls' },
  };
}

/**
 * Wire sketches as a probe sends them with a report like realisticReport's (shared/sample-sketch.ts): its
 * segments' TTFB, download time and throughput, and per-frame g2g and PDT latency. A few variants, built
 * once: encoding a sketch per report would cost the stand-in agents more than the controller under test.
 */
const SKETCH_VARIANTS: NonNullable<Report['sketches']>[] = Array.from({ length: 16 }, (_, v) => {
  const seg = Array.from({ length: 10 }, (_, k) => k + v);
  const frames = Array.from({ length: 30 }, (_, k) => 4100 + ((k * 37 + v * 11) % 300));
  return (
    sketchesOf({
      segment_ttfb_ms: seg.map((k) => 20 + k),
      segment_download_ms: seg.map((k) => 40 + k * 3),
      segment_throughput_kbps: seg.map((k) => 16_000 + k * 250),
      g2g_ms: frames,
      pdt_latency_ms: frames.map((f) => f - 10),
    }) ?? {}
  );
});

/** The report with sample sketches of its figures (a variant picked by i), as probes send them now. */
export function withSketches(r: Report, i: number): Report {
  return { ...r, sketches: SKETCH_VARIANTS[i % SKETCH_VARIANTS.length] };
}

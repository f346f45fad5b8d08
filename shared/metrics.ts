import { z } from 'zod';

/**
 * The one vocabulary of numbers (../shared/design/METRICS.md). Every name is optional: a probe omits what
 * it did not measure and never fills it with 0.
 */
const ms = z.number().finite();
const nonNeg = z.number().finite().nonnegative();
const count = z.number().int().nonnegative();

export const MetricsShape = {
  startup_ms: nonNeg,
  manifest_ms: nonNeg,
  first_segment_ms: nonNeg,
  segments_total: count,
  segment_ttfb_p50_ms: nonNeg,
  segment_ttfb_p95_ms: nonNeg,
  segment_download_p50_ms: nonNeg,
  segment_download_p95_ms: nonNeg,
  segment_throughput_p50_kbps: nonNeg,
  segment_availability_delay_p50_ms: ms,
  // Latencies may be negative when the agent clock is off; keep the raw value, the offset travels with it.
  g2g_p50_ms: ms,
  g2g_p95_ms: ms,
  g2g_max_ms: ms,
  pdt_latency_p50_ms: ms,
  pdt_latency_p95_ms: ms,
  dash_latency_p50_ms: ms,
  stall_count: count,
  stall_ms: nonNeg,
  rebuffer_ratio: z.number().min(0).max(1),
  dropped_frames: count,
  total_frames: count,
  bitrate_switches: count,
  frozen_ms: nonNeg,
  black_ms: nonNeg,
  errors_http: count,
  errors_network: count,
  errors_player: count,
  errors_conformance: count,
  clock_offset_ms: ms,
  /** ± bound on clock_offset_ms: half the round trip of the time-service sample it came from. */
  clock_uncertainty_ms: nonNeg,
  /**
   * Latency samples (g2g, PDT latency, availability delay) still negative after the clock correction: an
   * impossible value, so clock skew beyond the estimate. Counted and kept (never clamped to 0).
   */
  clock_skew_negative: count,
  // Issue #21, stream probe: highest (segment bits / duration) / declared BANDWIDTH (HLS) or @bandwidth
  // (DASH) over the renditions and segments measured in the report; > 1 means a rendition is over.
  bandwidth_peak_ratio: nonNeg,
  // Viewer signals (browser probe, docs/guides/viewer-signals.md).
  audio_level_p50_dbfs: z.number().finite().max(0),
  silent_ms: nonNeg,
  audio_missing_ms: nonNeg,
  av_offset_ms: ms,
  av_offset_abs_ms: nonNeg,
  caption_cues_per_min: nonNeg,
} as const;

export const Metrics = z.object(MetricsShape).partial();
export type Metrics = z.infer<typeof Metrics>;
export type MetricName = keyof typeof MetricsShape;
export const METRIC_NAMES = Object.keys(MetricsShape) as MetricName[];

export const FINDING_CODES = [
  'playlist-stale',
  'mseq-regression',
  'playlist-content-changed',
  'segment-continuity',
  'discontinuity-sequence',
  'extinf-over-target',
  'target-duration-changed',
  'window-too-short',
  'pdt-drift',
  'variant-mseq-drift',
  'http-status',
  'last-modified-stale',
  'endlist-in-live',
  'mpd-stale',
  'publish-time-regression',
  'dash-availability',
  // Beyond METRICS.md: a segment downloading slower than real time (throttled origin/CDN), per variant.
  'segment-slow',
  // Issue #21 (stream probe): a subtitle rendition stopped advancing (warning: picture and sound go on).
  'captions-stale',
  // Issue #21 (stream probe): a rendition's measured segment bitrate above its declared BANDWIDTH.
  'bandwidth-exceeded',
  // The master playlist / MPD (the entry document) could not be loaded or parsed on a reload.
  'manifest-unavailable',
  // Browser probe viewer signals: the decoded picture is not the declared size; declared audio does not play.
  'resolution-mismatch',
  'audio-missing',
] as const;
export const FindingCode = z.enum(FINDING_CODES);
export type FindingCode = z.infer<typeof FindingCode>;

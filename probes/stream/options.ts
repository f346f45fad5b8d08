import type { EgressPolicy } from '../../shared/egress.js';
import type { Logger } from '../../shared/log.js';
import type { Finding, SegmentTiming } from '../../shared/schemas.js';
import type { CmcdMode } from './cmcd.js';

export type SegmentFetch = 'newest' | 'all' | 'none';
export type SegmentMethod = 'GET' | 'range' | 'HEAD';

export interface Thresholds {
  /** playlist-stale: no new segment for more than this x TARGETDURATION (RFC 8216: 1.5). */
  staleFactor: number;
  /** window-too-short: live window shorter than this x TARGETDURATION (RFC 8216: 3). */
  windowFactor: number;
  /** last-modified-stale: Last-Modified older than this x TARGETDURATION vs Date. */
  lastModifiedFactor: number;
  /** pdt-drift: tolerated PDT mismatch, ms. */
  pdtToleranceMs: number;
  /** variant-mseq-drift: tolerated difference of newest media sequence between renditions. */
  variantDriftSegments: number;
  /** mpd-stale: timeline not advancing for more than this x max(minimumUpdatePeriod, segment duration). */
  mpdStaleFactor: number;
  /** dash-availability: live edge listed this much before its availability time (UTCTiming), ms. */
  dashEarlyToleranceMs: number;
  /** dash-availability: live edge this many segment durations behind the clock. */
  dashLateSegments: number;
  /** dash-availability: a live-edge segment is fetched (and must be there) this long after it became available, ms. */
  dashGraceMs: number;
  /** segment-slow: download time above this x the segment's duration. */
  slowSegmentFactor: number;
  /**
   * bandwidth-exceeded: measured segment bitrate tolerated above the declared BANDWIDTH / AVERAGE-BANDWIDTH /
   * DASH @bandwidth, as a fraction (0.1 = 10 %, the margin Apple's HLS authoring spec allows).
   */
  bandwidthTolerance: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  staleFactor: 1.5,
  windowFactor: 3,
  lastModifiedFactor: 3,
  pdtToleranceMs: 500,
  variantDriftSegments: 2,
  mpdStaleFactor: 1.5,
  dashEarlyToleranceMs: 1000,
  dashLateSegments: 4,
  dashGraceMs: 1000,
  slowSegmentFactor: 1,
  bandwidthTolerance: 0.1,
};

/** A segment download with its phases (the report's SegmentTiming plus connect/TLS, which it has no field for). */
export interface SegmentSample extends SegmentTiming {
  status?: number;
  /** TCP connect, ms (0 on a reused keep-alive connection). */
  connect_ms: number;
  /** TLS handshake, ms (0 for http: or a reused connection). */
  tls_ms: number;
  /** First byte -> last byte, ms. */
  transfer_ms: number;
  reused: boolean;
}

export interface StreamProberOptions {
  logger?: Logger;
  /** Which segments to download: the newest of each rendition on each change (default), every new one, or none. */
  segmentFetch?: SegmentFetch;
  /** GET the whole segment, GET the first `rangeBytes` (Range), or HEAD. */
  segmentMethod?: SegmentMethod;
  rangeBytes?: number;
  thresholds?: Partial<Thresholds>;
  /**
   * Reload the master playlist this often, seconds. Default: half the target duration of the renditions
   * followed (RFC 8216's wait for an unchanged playlist; 1 s until one is loaded), so a master that starts
   * failing is seen within about one media playlist poll.
   */
  masterIntervalS?: number;
  /** Random extra wait on each reload, as a fraction of the interval (never earlier than the spec allows). */
  jitter?: number;
  /** Per-request timeout, ms (default: min(max(TARGETDURATION, 2 s), 10 s) for playlists, 15 s for segments). */
  requestTimeoutMs?: number;
  /** Largest playlist / MPD body accepted, bytes (default 4 MiB). */
  maxPlaylistBytes?: number;
  /** Keep-alive sockets per origin (default 64). */
  maxSocketsPerOrigin?: number;
  /** Segment downloads in flight across all runs (default 32); more are skipped and counted. */
  maxConcurrentSegments?: number;
  /** Renditions followed per run (default 100; more in a master is a manifest-too-large error, the rest ignored). */
  maxRenditions?: number;
  /** Extra request headers (e.g. a CDN token header). */
  headers?: Record<string, string>;
  /** Egress policy for every request (agents); absent = no policy (a local one-off run). */
  egress?: EgressPolicy;
  /** Where protected targets' secrets are read from (besides env LIVEPROBE_SECRET_<NAME>). */
  secretsDir?: string;
  /** Bytes one run may download in all (playlists and segments; default 2 GiB); past it no segment is fetched. */
  maxSessionBytes?: number;
  /** Called once per new finding (code x variant) of a run, the moment it is first observed. */
  onFinding?: (finding: Finding, target: string) => void;
  /** Called for every segment download with its phase timings. */
  onSegment?: (sample: SegmentSample) => void;
  /** CMCD on every request (probes/stream/cmcd.ts): query argument, headers, or off (the default). */
  cmcd?: { mode: CmcdMode; customKey?: string };
}

export interface ResolvedOptions {
  logger?: Logger;
  segmentFetch: SegmentFetch;
  segmentMethod: SegmentMethod;
  rangeBytes: number;
  thresholds: Thresholds;
  /** undefined: tied to the target duration (hls-monitor.ts). */
  masterIntervalS?: number;
  jitter: number;
  requestTimeoutMs?: number;
  maxPlaylistBytes: number;
  maxSocketsPerOrigin: number;
  maxConcurrentSegments: number;
  maxRenditions: number;
  headers: Record<string, string>;
  egress?: EgressPolicy;
  secretsDir?: string;
  maxSessionBytes: number;
  onFinding?: (finding: Finding, target: string) => void;
  onSegment?: (sample: SegmentSample) => void;
  cmcd?: { mode: CmcdMode; customKey?: string };
}

export function resolveOptions(o: StreamProberOptions = {}): ResolvedOptions {
  return {
    logger: o.logger,
    segmentFetch: o.segmentFetch ?? 'newest',
    segmentMethod: o.segmentMethod ?? 'GET',
    rangeBytes: o.rangeBytes ?? 65536,
    thresholds: { ...DEFAULT_THRESHOLDS, ...o.thresholds },
    masterIntervalS: o.masterIntervalS,
    jitter: Math.min(Math.max(o.jitter ?? 0.02, 0), 0.5),
    requestTimeoutMs: o.requestTimeoutMs,
    maxPlaylistBytes: o.maxPlaylistBytes ?? 4 * 1024 * 1024,
    maxSocketsPerOrigin: o.maxSocketsPerOrigin ?? 64,
    maxConcurrentSegments: o.maxConcurrentSegments ?? 32,
    maxRenditions: o.maxRenditions ?? 100,
    headers: o.headers ?? {},
    egress: o.egress,
    secretsDir: o.secretsDir,
    maxSessionBytes: o.maxSessionBytes ?? 2 * 1024 * 1024 * 1024,
    onFinding: o.onFinding,
    onSegment: o.onSegment,
    cmcd: o.cmcd,
  };
}

import type { FindingCode } from '../../shared/metrics.js';
import type { Numbering } from './checks/sequence.js';

export type Severity = 'info' | 'warning' | 'critical';

/** What a check says about one reload; the monitor turns it into a (collapsed) Finding. */
/** Every observation has a finding code ('segment-slow' included); notes() stays for codes added later. */
export type ObservationCode = FindingCode;

export interface Observation {
  code: ObservationCode;
  severity: Severity;
  /** One readable line: becomes the report's reason and heads the evidence. */
  summary: string;
  /** The relevant lines of both playlists (bounded by evidence.ts). */
  evidence: string;
  /**
   * A judgement of time our own lateness could explain (a request that timed out): excused like the
   * TIMING_CODES when the probe ran late (session.ts verdict). Absent = the stream's, whatever we did.
   */
  timing?: boolean;
}

export interface HlsSegment {
  /** Media sequence number: EXT-X-MEDIA-SEQUENCE + index. */
  sn: number;
  uri: string;
  /** EXTINF seconds; NaN when missing or not a number. */
  duration: number;
  /** Epoch ms: explicit EXT-X-PROGRAM-DATE-TIME or extrapolated by m3u8-parser from the previous one. */
  pdt?: number;
  /** True when this segment carries its own EXT-X-PROGRAM-DATE-TIME tag. */
  pdtExplicit: boolean;
  /** An EXT-X-DISCONTINUITY tag precedes this segment. */
  discontinuity: boolean;
  byterange?: { length: number; offset: number };
}

export interface MediaPlaylist {
  kind: 'media';
  text: string;
  /** Wall time (epoch ms) the response arrived. */
  fetchedAt: number;
  /** Seconds; undefined when missing or invalid. */
  targetDuration: number | undefined;
  mseq: number;
  dseq: number;
  /** m3u8-parser leaves endList undefined when absent: normalised to a boolean here. */
  endList: boolean;
  playlistType?: string;
  segments: HlsSegment[];
  /** Segment file numbering, summarised at parse time (checks/sequence.ts numbering()). */
  numbering?: Numbering;
  /** Parser warnings (bounded). */
  warnings: string[];
}

export type RenditionType = 'video' | 'audio' | 'subtitles';

export interface MasterEntry {
  /** As written in the master (query redacted): the variant's name in findings. */
  name: string;
  /** Absolute URL to poll. */
  url: string;
  type: RenditionType;
  bandwidth?: number;
  /** AVERAGE-BANDWIDTH of a variant, bits/s. */
  averageBandwidth?: number;
  /** Group for cross-variant comparisons (type + group id). */
  group: string;
}

export interface MasterPlaylist {
  kind: 'master';
  text: string;
  fetchedAt: number;
  entries: MasterEntry[];
  warnings: string[];
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function lastSn(p: MediaPlaylist): number {
  return p.mseq + p.segments.length - 1;
}

export function segmentBySn(p: MediaPlaylist, sn: number): HlsSegment | undefined {
  const i = sn - p.mseq;
  return i >= 0 && i < p.segments.length ? p.segments[i] : undefined;
}

/** Sum of EXTINF (seconds), ignoring missing durations. */
export function windowSeconds(p: MediaPlaylist): number {
  let s = 0;
  for (const seg of p.segments) if (Number.isFinite(seg.duration)) s += seg.duration;
  return s;
}

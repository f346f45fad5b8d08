/**
 * Slow segment download (code: segment-slow), judged while the body is still arriving: a segment that cannot
 * reach the viewer within its own duration (x `factor`) means a player fed by that origin rebuffers, and the
 * operator should know when that becomes evident, not when (if ever) the download ends.
 *
 * Two ways to know before the end:
 * - the deadline (factor x duration) has passed and the download is still running (no byte, or not all);
 * - the body is arriving at a rate that, held for the rest of it (Content-Length known), ends past the deadline
 *   by a clear margin, measured over enough of the transfer that one late chunk cannot decide it.
 *
 * One slow segment is a warning; SLOW_PERSIST_SEGMENTS in a row on one rendition is critical (a viewer on it
 * cannot keep playing), which a watch reports at once rather than at its next interval.
 */
import { evidence } from '../evidence.js';
import type { MediaPlaylist, Observation } from '../model.js';

/** Consecutive slow segments of one rendition from which segment-slow is critical. */
export const SLOW_PERSIST_SEGMENTS = 2;

export interface RateProgress {
  /** ms since the request started. */
  elapsedMs: number;
  /** ms from the request start to the response headers; undefined while none arrived. */
  ttfbMs: number | undefined;
  /** Body bytes received so far. */
  bytes: number;
  /** Body bytes expected (Content-Length, or the byte range's length); undefined when unknown. */
  totalBytes: number | undefined;
  /** The segment's duration (EXTINF / MPD), ms. */
  durationMs: number;
  /** Deadline as a multiple of the duration (Thresholds.slowSegmentFactor). */
  factor: number;
}

export interface SlowVerdict {
  /** deadline: still running at the deadline; rate: the arrival rate cannot make the deadline. */
  why: 'deadline' | 'rate';
  elapsedMs: number;
  deadlineMs: number;
  /** When the body would be complete at the rate seen so far (ms since the request start). */
  projectedMs?: number;
  /** Body rate so far, kbit/s (undefined before the first byte). */
  kbps?: number;
  /** What real time needs, kbit/s (undefined when the size is unknown). */
  neededKbps?: number;
  bytes: number;
  totalBytes?: number;
}

/** The projection must overshoot the deadline by this factor: a borderline segment waits for the deadline. */
export const RATE_MARGIN = 1.25;
/** Transfer observed before a rate may decide: at least this much of the duration... */
const MIN_OBSERVED_SHARE = 0.1;
/** ...and at least this long (ms), so a single late chunk or TCP slow start cannot decide it. */
const MIN_OBSERVED_MS = 200;

/** The verdict for a download in progress, or undefined while it may still make its deadline. */
export function judgeSegmentRate(p: RateProgress): SlowVerdict | undefined {
  const deadlineMs = p.factor * p.durationMs;
  if (!(deadlineMs > 0)) return undefined;
  const transferMs = p.ttfbMs === undefined ? 0 : Math.max(0, p.elapsedMs - p.ttfbMs);
  const rate = transferMs > 0 && p.bytes > 0 ? p.bytes / transferMs : undefined; // bytes per ms
  const kbps = rate !== undefined ? rate * 8 : undefined;
  const total = p.totalBytes !== undefined && p.totalBytes > 0 ? p.totalBytes : undefined;
  const neededKbps = total !== undefined ? (total * 8) / p.durationMs : undefined;
  const base = { elapsedMs: p.elapsedMs, deadlineMs, kbps, neededKbps, bytes: p.bytes, totalBytes: total };
  if (total !== undefined && p.bytes >= total) return undefined;
  if (p.elapsedMs >= deadlineMs) {
    const projectedMs =
      rate !== undefined && total !== undefined ? p.elapsedMs + (total - p.bytes) / rate : undefined;
    return { why: 'deadline', projectedMs, ...base };
  }
  if (rate === undefined || total === undefined) return undefined;
  if (transferMs < Math.max(MIN_OBSERVED_MS, MIN_OBSERVED_SHARE * p.durationMs)) return undefined;
  const projectedMs = p.elapsedMs + (total - p.bytes) / rate;
  if (projectedMs <= RATE_MARGIN * deadlineMs) return undefined;
  return { why: 'rate', projectedMs, ...base };
}

/** One readable line for the finding. */
export function slowSummary(sn: number | string | undefined, durationS: number, v: SlowVerdict): string {
  const seg = sn === undefined ? 'segment' : `segment ${sn}`;
  const rate = v.kbps !== undefined ? `${Math.round(v.kbps)} kbit/s` : 'no byte yet';
  const need = v.neededKbps !== undefined ? ` (real time needs ${Math.round(v.neededKbps)} kbit/s)` : '';
  const got = v.totalBytes !== undefined ? `${v.bytes} of ${v.totalBytes} bytes` : `${v.bytes} bytes`;
  if (v.why === 'rate')
    return `${seg} arriving at ${rate}${need}: ${got} after ${(v.elapsedMs / 1000).toFixed(2)} s, on course to end at ${((v.projectedMs ?? 0) / 1000).toFixed(1)} s, past its ${durationS} s duration`;
  return `${seg} still downloading after ${(v.elapsedMs / 1000).toFixed(2)} s, longer than its ${durationS} s duration (${got}, ${rate}${need})`;
}

/** The segment-slow observation for the `streak`-th slow segment in a row of a rendition. */
export function slowObservation(
  summary: string,
  request: string,
  streak: number,
  playlist?: MediaPlaylist,
  sn?: number,
): Observation {
  const persistent = streak >= SLOW_PERSIST_SEGMENTS;
  const line = persistent ? `${summary} (${streak} slow segments in a row)` : summary;
  return {
    code: 'segment-slow',
    severity: persistent ? 'critical' : 'warning',
    summary: line,
    evidence: evidence(
      line,
      playlist && sn !== undefined
        ? [{ label: 'playlist listing it', playlist, header: ['#EXT-X-MEDIA-SEQUENCE'], sns: [sn] }]
        : [],
      request,
    ),
  };
}

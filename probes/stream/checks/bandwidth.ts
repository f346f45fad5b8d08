/**
 * Renditions that lie about their bitrate. Each downloaded (or HEAD-sized) media segment gives a real
 * bitrate: bytes x 8 / duration (EXTINF, or the MPD's segment duration).
 *
 * - HLS BANDWIDTH is the peak segment bit rate (RFC 8216 4.3.4.2): one segment above BANDWIDTH x (1 +
 *   tolerance) is a finding. For a variant whose audio is a separate EXT-X-MEDIA rendition, BANDWIDTH also
 *   covers that audio: comparing the variant's own segments alone leaves the audio share as headroom.
 * - HLS AVERAGE-BANDWIDTH is the average segment bit rate: the mean over the last AVERAGE_WINDOW measured
 *   segments (at least AVERAGE_MIN of them) above AVERAGE-BANDWIDTH x (1 + tolerance) is a finding.
 * - DASH @bandwidth is a leaky bucket with @minBufferTime (ISO/IEC 23009-1 5.3.5.2): a segment of duration d
 *   must fit in @bandwidth x (d + minBufferTime); above that x (1 + tolerance) is a finding.
 * Code: bandwidth-exceeded (warning), naming the rendition.
 */
import type { Observation } from '../model.js';

export const AVERAGE_WINDOW = 15;
export const AVERAGE_MIN = 5;

export interface BitrateSample {
  bytes: number;
  durationS: number;
  sn?: number;
}

export interface Declared {
  /** HLS BANDWIDTH or DASH @bandwidth, bits/s. */
  bandwidth?: number;
  /** HLS AVERAGE-BANDWIDTH, bits/s. */
  averageBandwidth?: number;
  /** DASH: MPD@minBufferTime, seconds (the leaky bucket's size). */
  minBufferTimeS?: number;
  protocol: 'hls' | 'dash';
}

export interface BitrateFigures {
  /** Highest segment bitrate measured, bits/s. */
  peakBps: number;
  /** Mean over the recent window, bits/s. */
  averageBps: number;
  segments: number;
}

const kbps = (bps: number) => `${Math.round(bps / 1000)} kbit/s`;

/** Recent segment sizes of one rendition (bounded) and the checks against what it declares. */
export class BitrateMeter {
  private readonly recent: BitrateSample[] = [];
  private peak = 0;
  private count = 0;

  /** Adds one measured segment; returns the observations it triggers. */
  add(s: BitrateSample, declared: Declared, tolerance: number): Observation[] {
    if (!(s.bytes > 0) || !(s.durationS > 0)) return [];
    this.recent.push(s);
    if (this.recent.length > AVERAGE_WINDOW) this.recent.shift();
    this.count++;
    const bps = (s.bytes * 8) / s.durationS;
    this.peak = Math.max(this.peak, bps);
    const out: Observation[] = [];
    const bw = declared.bandwidth;
    const seg = s.sn !== undefined ? `segment ${s.sn}` : 'live-edge segment';
    if (bw !== undefined && bw > 0) {
      if (declared.protocol === 'hls') {
        const limit = bw * (1 + tolerance);
        if (bps > limit)
          out.push(
            obs(
              `${seg}: ${kbps(bps)} (${s.bytes} bytes over ${s.durationS} s) > BANDWIDTH ${kbps(bw)} + ${Math.round(tolerance * 100)}% (peak segment bit rate, RFC 8216 4.3.4.2)`,
            ),
          );
      } else {
        const mbt = declared.minBufferTimeS ?? 0;
        const allowedBits = bw * (s.durationS + mbt) * (1 + tolerance);
        if (s.bytes * 8 > allowedBits)
          out.push(
            obs(
              `${seg}: ${s.bytes * 8} bits in ${s.durationS} s (${kbps(bps)}) > @bandwidth ${kbps(bw)} x (duration + minBufferTime ${mbt} s) + ${Math.round(tolerance * 100)}%`,
            ),
          );
      }
    }
    const avgDeclared = declared.averageBandwidth;
    if (avgDeclared !== undefined && avgDeclared > 0 && this.recent.length >= AVERAGE_MIN) {
      const avg = this.averageBps();
      if (avg > avgDeclared * (1 + tolerance))
        out.push(
          obs(
            `average of the last ${this.recent.length} segments ${kbps(avg)} > AVERAGE-BANDWIDTH ${kbps(avgDeclared)} + ${Math.round(tolerance * 100)}%`,
          ),
        );
    }
    return out;
  }

  averageBps(): number {
    let bits = 0;
    let secs = 0;
    for (const s of this.recent) {
      bits += s.bytes * 8;
      secs += s.durationS;
    }
    return secs > 0 ? bits / secs : 0;
  }

  figures(): BitrateFigures | undefined {
    if (this.count === 0) return undefined;
    return {
      peakBps: Math.round(this.peak),
      averageBps: Math.round(this.averageBps()),
      segments: this.count,
    };
  }
}

function obs(summary: string): Observation {
  return { code: 'bandwidth-exceeded', severity: 'warning', summary, evidence: summary };
}

/**
 * The size of a segment response: the body for a whole GET, else the total from Content-Range (a ranged
 * GET) or Content-Length (HEAD). Undefined when it cannot be known.
 */
export function segmentSize(
  method: 'GET' | 'range' | 'HEAD',
  status: number,
  bodyBytes: number,
  headers: Record<string, string | string[] | undefined>,
  byterangeLength?: number,
): number | undefined {
  if (byterangeLength !== undefined && byterangeLength > 0) return byterangeLength;
  const h = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (method === 'GET' && status === 200) return bodyBytes;
  const range = h('content-range');
  const total = range ? /\/(\d+)\s*$/.exec(range)?.[1] : undefined;
  if (total) return Number(total);
  const len = h('content-length');
  if (method === 'HEAD' && len && /^\d+$/.test(len)) return Number(len);
  return undefined;
}

/** MPD@minBufferTime in seconds (simple PTnS / PTnMnS forms). */
export function minBufferTimeS(mpdText: string): number | undefined {
  const m = /\bminBufferTime="PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?"/.exec(mpdText);
  if (!m) return undefined;
  const v = Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * CMCD (CTA-5004, Common Media Client Data v1) on stream-probe requests, so a CDN's logs can join its
 * requests to probe runs: sid (one per run), cid (the target id), st (live), ot (m manifest, v / a media),
 * br (the rendition's advertised kbit/s), mtp (throughput of the run's last segment download, kbit/s rounded
 * to 100 as the spec asks), su (until the run's first segment completed), plus a custom key marking the
 * traffic synthetic. bl (buffer length) is not sent: a poller has no buffer, and a made-up one would mislead
 * the CDN's analytics. Query mode adds one `CMCD=` argument; header mode the four CMCD-* headers.
 */
import { randomUUID } from 'node:crypto';

export type CmcdMode = 'query' | 'header' | 'off';
export const DEFAULT_CMCD_CUSTOM_KEY = 'com.liveprobe-synthetic';

/** What a request is, as far as CMCD cares. */
export interface CmcdObject {
  ot: 'm' | 'v' | 'a' | 'c' | 'o';
  /** Advertised bits/s of the rendition (converted to kbit/s on the wire). */
  bandwidth?: number;
}

/** CMCD object type of a rendition's media segments (c: captions / subtitles). */
export function cmcdMediaType(type: 'video' | 'audio' | 'subtitles'): CmcdObject['ot'] {
  return type === 'audio' ? 'a' : type === 'subtitles' ? 'c' : 'v';
}

/** Ready to send: a query value (without `CMCD=`) or headers. */
export type CmcdWire = { query: string } | { headers: Record<string, string> };

type Value = string | number | boolean;

// Which header each key travels in (CTA-5004 section 3.2).
const HEADER_OF: Record<string, 'Object' | 'Request' | 'Session' | 'Status'> = {
  br: 'Object',
  ot: 'Object',
  mtp: 'Request',
  su: 'Request',
  cid: 'Session',
  sid: 'Session',
  st: 'Session',
};

function encode(entries: Array<[string, Value]>): string {
  return entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === true ? k : typeof v === 'string' ? `${k}=${JSON.stringify(v)}` : `${k}=${v}`))
    .join(',');
}

/** One run's CMCD state: its session id, whether it is still starting up, its last measured throughput. */
export class CmcdRun {
  readonly sid = randomUUID();
  private startingUp = true;
  private mtpKbps: number | undefined;

  constructor(
    private readonly mode: Exclude<CmcdMode, 'off'>,
    private readonly cid: string,
    private readonly customKey = DEFAULT_CMCD_CUSTOM_KEY,
  ) {}

  /** A segment download finished: its throughput becomes mtp and the run is past start-up. */
  segmentDone(bytes: number, ms: number): void {
    this.startingUp = false;
    if (bytes > 0 && ms > 0) this.mtpKbps = Math.max(100, Math.round((bytes * 8) / ms / 100) * 100);
  }

  wire(o: CmcdObject): CmcdWire {
    const e: Array<[string, Value]> = [
      ['sid', this.sid],
      ['cid', this.cid.slice(0, 64)],
      ['st', 'l'],
      ['ot', o.ot],
    ];
    if (o.bandwidth !== undefined && o.bandwidth > 0) e.push(['br', Math.round(o.bandwidth / 1000)]);
    if (this.mtpKbps !== undefined) e.push(['mtp', this.mtpKbps]);
    if (this.startingUp) e.push(['su', true]);
    e.push([this.customKey, true]);
    if (this.mode === 'query') return { query: encode(e) };
    const groups: Record<string, Array<[string, Value]>> = {};
    for (const kv of e) {
      const h = HEADER_OF[kv[0]] ?? 'Session';
      groups[h] = [...(groups[h] ?? []), kv];
    }
    const headers: Record<string, string> = {};
    for (const [h, kvs] of Object.entries(groups)) headers[`cmcd-${h.toLowerCase()}`] = encode(kvs);
    return { headers };
  }
}

/** Applies a wire to an outgoing URL / header set (the caller keeps its own URL for reports). */
export function applyCmcd(u: URL, headers: Record<string, string>, w: CmcdWire | undefined): void {
  if (!w) return;
  if ('query' in w) u.searchParams.set('CMCD', w.query);
  else Object.assign(headers, w.headers);
}

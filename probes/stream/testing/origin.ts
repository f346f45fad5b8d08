/**
 * A synthetic live origin on loopback: HLS master + media playlists and a dynamic DASH MPD (SegmentTimeline,
 * UTCTiming), generated on the fly from the wall clock, with exact fault injection per stream and rendition.
 * Tests and the bench use it where they need precise, cheap faults; the ffmpeg testbed is the real thing.
 *
 * API (shaped like the testbed's): POST /faults {stream, rendition?, type, ...params, durationS?} -> {id};
 * DELETE /faults/:id; GET /faults; GET /faults/log; GET /time.
 * Media: /hls/<stream>/master.m3u8, /hls/<stream>/<rendition>.m3u8, /hls/<stream>/<rendition>/seg_<n>.ts,
 *        /dash/<stream>/manifest.mpd, /dash/<stream>/<rep>/seg_<n>.m4s
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultType =
  | 'stale'
  | 'mseq-regress'
  | 'drop-segment'
  | 'discontinuity'
  | 'discontinuity-tag'
  | 'pdt-jump'
  | 'extinf-over'
  | 'status'
  | 'endlist'
  | 'throttle'
  | 'last-modified'
  | 'td-change'
  | 'window-short'
  | 'delay'
  | 'mpd-stale'
  | 'publish-time-regress'
  | 'ast-shift';

export interface FaultSpec {
  stream: string;
  /** Rendition name, or 'master' for the master playlist; all renditions when absent. */
  rendition?: string;
  type: FaultType;
  /** status: HTTP status; what: 'playlist' | 'segment' (default segment; master faults hit the master). */
  status?: number;
  what?: 'playlist' | 'segment';
  /** mseq-regress / discontinuity: by how much (default 3 / 1). */
  by?: number;
  /** pdt-jump / ast-shift / delay: milliseconds. last-modified: age in ms. */
  ms?: number;
  /** throttle: bytes per second. */
  bytesPerSecond?: number;
  durationS?: number;
}

interface Fault extends FaultSpec {
  id: string;
  at: number;
  /** Latest segment index when injected. */
  k0: Map<string, number>;
}

export interface StreamSpec {
  id: string;
  protocol?: 'hls' | 'dash';
  renditions: string[];
  /** Adds an audio rendition (EXT-X-MEDIA TYPE=AUDIO) named 'audio'. */
  audio?: boolean;
  /** Segment duration = TARGETDURATION, seconds (default 2). */
  td?: number;
  /** Segments in the live window (default 6). */
  window?: number;
  segmentBytes?: number;
  /** Stream epoch (segment 0 starts here), default: so that the window is already full. */
  t0?: number;
  /** Segment file number offset (seg_<n + offset>.ts), default 0. */
  numberOffset?: number;
}

export interface SyntheticOrigin {
  port: number;
  base: string;
  masterUrl(stream: string): string;
  mediaUrl(stream: string, rendition: string): string;
  mpdUrl(stream: string): string;
  inject(f: FaultSpec): string;
  clear(id?: string): void;
  log: Array<{ at: number; action: 'inject' | 'remove'; id: string; fault: FaultSpec }>;
  requests: number;
  close(): Promise<void>;
}

interface Stream extends Required<Omit<StreamSpec, 't0' | 'audio' | 'protocol' | 'numberOffset'>> {
  t0: number;
  audio: boolean;
  protocol: 'hls' | 'dash';
  numberOffset: number;
  cache: Map<string, { key: string; text: string; lastModified: number }>;
}

export async function startSyntheticOrigin(opts: {
  port?: number;
  streams: StreamSpec[];
}): Promise<SyntheticOrigin> {
  const streams = new Map<string, Stream>();
  const now0 = Date.now();
  for (const s of opts.streams) {
    const td = s.td ?? 2;
    const window = s.window ?? 6;
    streams.set(s.id, {
      id: s.id,
      protocol: s.protocol ?? 'hls',
      renditions: s.renditions,
      audio: s.audio ?? false,
      td,
      window,
      segmentBytes: s.segmentBytes ?? 1024,
      t0: s.t0 ?? now0 - (window + 1) * td * 1000,
      numberOffset: s.numberOffset ?? 0,
      cache: new Map(),
    });
  }
  const faults = new Map<string, Fault>();
  let faultVersion = 0;
  let nextId = 1;
  const log: SyntheticOrigin['log'] = [];
  const bodies = new Map<number, Buffer>();
  const body = (n: number) => {
    let b = bodies.get(n);
    if (!b) {
      b = Buffer.alloc(n, 0x47);
      bodies.set(n, b);
    }
    return b;
  };

  const latestK = (s: Stream, at = Date.now()) => Math.floor((at - s.t0) / (s.td * 1000)) - 1;

  const active = (s: Stream, rendition: string | undefined, type: FaultType): Fault | undefined => {
    for (const f of faults.values()) {
      if (f.stream !== s.id || f.type !== type) continue;
      if (f.rendition !== undefined && f.rendition !== rendition) continue;
      return f;
    }
    return undefined;
  };

  const k0 = (f: Fault, s: Stream, rendition: string): number => {
    let k = f.k0.get(rendition);
    if (k === undefined) {
      k = latestK(s, f.at);
      f.k0.set(rendition, k);
    }
    return k;
  };

  function mediaPlaylist(s: Stream, r: string): { text: string; lastModified: number } {
    let k = latestK(s);
    const stale = active(s, r, 'stale');
    if (stale) k = Math.min(k, k0(stale, s, r));
    const key = `${k}|${faultVersion}`;
    const hit = s.cache.get(r);
    if (hit && hit.key === key) return hit;
    let win = s.window;
    if (active(s, r, 'window-short')) win = 2;
    const first = Math.max(0, k - win + 1);
    let mseq = first;
    const regress = active(s, r, 'mseq-regress');
    if (regress) mseq = Math.max(0, first - (regress.by ?? 3));
    let dseq = 0;
    const disc = active(s, r, 'discontinuity');
    if (disc) dseq += disc.by ?? 1;
    // A conformant discontinuity on this rendition only: the tag before the next segment, counted in
    // EXT-X-DISCONTINUITY-SEQUENCE once it slides out.
    const tag = active(s, r, 'discontinuity-tag');
    const tagSn = tag ? k0(tag, s, r) + 1 : -1;
    if (tag && tagSn < first) dseq += 1;
    const drop = active(s, r, 'drop-segment');
    const dropSn = drop ? k0(drop, s, r) + 2 : -1;
    const pdt = active(s, r, 'pdt-jump');
    const pdtFrom = pdt ? k0(pdt, s, r) + 1 : Number.POSITIVE_INFINITY;
    const over = active(s, r, 'extinf-over');
    const overFrom = over ? k0(over, s, r) + 1 : Number.POSITIVE_INFINITY;
    const td = active(s, r, 'td-change') ? s.td + 1 : s.td;
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      `#EXT-X-TARGETDURATION:${td}`,
      `#EXT-X-MEDIA-SEQUENCE:${mseq}`,
    ];
    if (dseq > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${dseq}`);
    for (let n = first; n <= k; n++) {
      if (n === dropSn) continue;
      if (n === tagSn) lines.push('#EXT-X-DISCONTINUITY');
      const at = s.t0 + n * s.td * 1000 + (n >= pdtFrom ? (pdt?.ms ?? 5000) : 0);
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(at).toISOString()}`);
      lines.push(`#EXTINF:${(n >= overFrom ? s.td * 1.8 : s.td).toFixed(3)},`);
      lines.push(`${r}/seg_${n + s.numberOffset}.ts`);
    }
    if (active(s, r, 'endlist')) lines.push('#EXT-X-ENDLIST');
    const entry = { key, text: `${lines.join('\n')}\n`, lastModified: s.t0 + (k + 1) * s.td * 1000 };
    s.cache.set(r, entry);
    return entry;
  }

  function master(s: Stream): string {
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3'];
    if (s.audio) {
      lines.push(
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio.m3u8"',
      );
    }
    s.renditions.forEach((r, i) => {
      const bw = 200_000 * (s.renditions.length - i);
      lines.push(
        `#EXT-X-STREAM-INF:BANDWIDTH=${bw},CODECS="avc1.64001e,mp4a.40.2"${s.audio ? ',AUDIO="aud"' : ''}`,
      );
      lines.push(`${r}.m3u8`);
    });
    return `${lines.join('\n')}\n`;
  }

  function mpd(s: Stream): string {
    let k = latestK(s);
    const stale = active(s, undefined, 'mpd-stale');
    if (stale) k = Math.min(k, k0(stale, s, '*'));
    const first = Math.max(0, k - s.window + 1);
    const shift = active(s, undefined, 'ast-shift')?.ms ?? 0;
    const regress = active(s, undefined, 'publish-time-regress');
    const publish = s.t0 + (k + 1) * s.td * 1000 - (regress ? 60_000 : 0);
    const ts = 1000;
    const d = s.td * ts;
    const reps = s.renditions
      .map(
        (r, i) =>
          `<Representation id="${r}" bandwidth="${200_000 * (s.renditions.length - i)}" width="640" height="360" codecs="avc1.64001e"/>`,
      )
      .join('');
    return `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="${new Date(s.t0 + shift).toISOString()}" publishTime="${new Date(publish).toISOString()}" minimumUpdatePeriod="PT${s.td}S" timeShiftBufferDepth="PT${s.td * s.window}S" maxSegmentDuration="PT${s.td}S" minBufferTime="PT${s.td}S">
<Period id="0" start="PT0S">
<AdaptationSet contentType="video" mimeType="video/mp4" segmentAlignment="true">
<SegmentTemplate timescale="${ts}" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg_$Number$.m4s" startNumber="${first}">
<SegmentTimeline><S t="${first * d}" d="${d}" r="${k - first}"/></SegmentTimeline>
</SegmentTemplate>
${reps}
</AdaptationSet>
</Period>
<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/time"/>
</MPD>
`;
  }

  const statusFault = (
    s: Stream,
    r: string | undefined,
    what: 'playlist' | 'segment',
  ): number | undefined => {
    for (const f of faults.values()) {
      if (f.stream !== s.id || f.type !== 'status') continue;
      if (f.rendition !== undefined && f.rendition !== r) continue;
      const fw = f.rendition === 'master' ? 'playlist' : (f.what ?? 'segment');
      if (fw === what) return f.status ?? 404;
    }
    return undefined;
  };

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    text: string | Buffer,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  };

  const origin: SyntheticOrigin = {
    port: 0,
    base: '',
    masterUrl: (s) => `${origin.base}/hls/${s}/master.m3u8`,
    mediaUrl: (s, r) => `${origin.base}/hls/${s}/${r}.m3u8`,
    mpdUrl: (s) => `${origin.base}/dash/${s}/manifest.mpd`,
    inject(spec) {
      const id = String(nextId++);
      const f: Fault = { ...spec, id, at: Date.now(), k0: new Map() };
      faults.set(id, f);
      faultVersion++;
      log.push({ at: f.at, action: 'inject', id, fault: spec });
      if (spec.durationS) setTimeout(() => origin.clear(id), spec.durationS * 1000).unref();
      return id;
    },
    clear(id) {
      for (const f of [...faults.values()]) {
        if (id !== undefined && f.id !== id) continue;
        faults.delete(f.id);
        faultVersion++;
        log.push({ at: Date.now(), action: 'remove', id: f.id, fault: f });
      }
    },
    log,
    requests: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    origin.requests++;
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    if (url === '/time') return send(res, 200, 'text/plain', new Date().toISOString());
    if (url === '/faults' && req.method === 'POST') {
      let raw = '';
      req.on('data', (c: Buffer) => {
        raw += c.toString();
      });
      req.on('end', () => {
        try {
          const id = origin.inject(JSON.parse(raw) as FaultSpec);
          send(res, 200, 'application/json', JSON.stringify({ id }));
        } catch (err) {
          send(res, 400, 'text/plain', String(err));
        }
      });
      return;
    }
    if (url.startsWith('/faults/') && req.method === 'DELETE') {
      origin.clear(url.slice('/faults/'.length));
      return send(res, 204, 'text/plain', '');
    }
    if (url === '/faults/log') return send(res, 200, 'application/json', JSON.stringify(log));
    if (url === '/faults')
      return send(
        res,
        200,
        'application/json',
        JSON.stringify([...faults.values()].map(({ k0: _k, ...f }) => f)),
      );
    const m = /^\/(hls|dash)\/([^/]+)\/(.+)$/.exec(url);
    const s = m ? streams.get(m[2]!) : undefined;
    if (!m || !s) return send(res, 404, 'text/plain', 'not found');
    const rest = m[3]!;
    const delay = (r: string | undefined) => active(s, r, 'delay')?.ms ?? 0;
    const later = (r: string | undefined, fn: () => void) => {
      const d = delay(r);
      if (d > 0) setTimeout(fn, d);
      else fn();
    };
    if (rest === 'master.m3u8') {
      const st = statusFault(s, 'master', 'playlist');
      if (st) return send(res, st, 'text/plain', `status fault ${st}`);
      return later('master', () => send(res, 200, 'application/vnd.apple.mpegurl', master(s)));
    }
    if (rest === 'manifest.mpd') {
      const st = statusFault(s, 'mpd', 'playlist');
      if (st) return send(res, st, 'text/plain', `status fault ${st}`);
      return later(undefined, () => send(res, 200, 'application/dash+xml', mpd(s)));
    }
    const pl = /^([^/]+)\.m3u8$/.exec(rest);
    if (pl) {
      const r = pl[1]!;
      if (r !== 'audio' && !s.renditions.includes(r))
        return send(res, 404, 'text/plain', 'no such rendition');
      const st = statusFault(s, r, 'playlist');
      if (st) return send(res, st, 'text/plain', `status fault ${st}`);
      const p = mediaPlaylist(s, r);
      const lmFault = active(s, r, 'last-modified');
      const lm = lmFault ? Date.now() - (lmFault.ms ?? 60_000) : p.lastModified;
      return later(r, () =>
        send(res, 200, 'application/vnd.apple.mpegurl', p.text, {
          'last-modified': new Date(lm).toUTCString(),
        }),
      );
    }
    const seg = /^([^/]+)\/(seg_\d+\.(ts|m4s)|init\.mp4)$/.exec(rest);
    if (seg) {
      const r = seg[1]!;
      const st = statusFault(s, r, 'segment');
      if (st) return send(res, st, 'text/plain', `status fault ${st}`);
      const b = body(s.segmentBytes);
      const th = active(s, r, 'throttle');
      if (th) {
        const bps = Math.max(1, th.bytesPerSecond ?? 1000);
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': b.length });
        let off = 0;
        const step = Math.max(1, Math.floor(bps / 10));
        const tick = () => {
          if (res.destroyed) return;
          const chunk = b.subarray(off, off + step);
          off += chunk.length;
          if (off >= b.length) res.end(chunk);
          else {
            res.write(chunk);
            setTimeout(tick, 100);
          }
        };
        tick();
        return;
      }
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': b.length });
        return res.end();
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (range) {
        const a = Number(range[1]);
        const z = Math.min(range[2] ? Number(range[2]) : b.length - 1, b.length - 1);
        const part = b.subarray(a, z + 1);
        return send(res, 206, 'video/mp2t', part, { 'content-range': `bytes ${a}-${z}/${b.length}` });
      }
      return send(res, 200, 'video/mp2t', b);
    }
    return send(res, 404, 'text/plain', 'not found');
  };

  const server: Server = createServer({ keepAliveTimeout: 30_000 }, handle);
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  origin.port = (server.address() as AddressInfo).port;
  origin.base = `http://127.0.0.1:${origin.port}`;
  return origin;
}

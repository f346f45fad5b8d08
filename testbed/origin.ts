import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../shared/log.js';
import { CONTENT_TYPES, type ResourceRef, resolveResource, type StreamLayout } from './layout.js';
import type { ManifestVersion, PlaylistStore } from './playlists.js';

/** How the origin should answer one media request; produced by the fault engine. */
export interface ServePlan {
  /** Added latency before the first byte. */
  delayMs?: number;
  /** Answer with this status (and a short body) instead of the resource. */
  status?: number;
  /** Accept the request and never answer (until the fault is removed). */
  hang?: boolean;
  /** Cap the body rate, bytes per second. */
  throttleBps?: number;
  /** Settles when the fault causing a hang is removed. */
  hangUntil?: Promise<void>;
  /**
   * Pad a media segment up to this bitrate over its duration (bitrate-over): MPEG-TS null packets (PID
   * 0x1FFF) or an ISO BMFF `free` box after the media, both ignored by players, so the bytes on the wire
   * (what a player's bandwidth estimate and a weak link see) really are that high while the picture is not
   * touched.
   */
  pad?: { bitsPerSecond: number; durationS: number };
}

/** Filler bytes that take `bytes` (about) and that a demuxer skips; empty when the container has none. */
export function paddingFor(path: string, bytes: number): Buffer {
  if (bytes <= 0) return Buffer.alloc(0);
  const ext = extname(path);
  if (ext === '.ts') {
    const packet = Buffer.alloc(188, 0xff);
    packet[0] = 0x47;
    packet[1] = 0x1f;
    packet[2] = 0xff;
    packet[3] = 0x10;
    const n = Math.ceil(bytes / 188);
    return Buffer.concat(Array.from({ length: n }, () => packet));
  }
  if (ext === '.m4s' || ext === '.mp4') {
    const size = Math.max(8, bytes);
    const box = Buffer.alloc(size, 0);
    box.writeUInt32BE(size, 0);
    box.write('free', 4, 'latin1');
    return box;
  }
  return Buffer.alloc(0);
}

export interface ManifestView {
  text: string;
  /** Publication time shown as Last-Modified. */
  at: number;
}

export interface OriginHooks {
  plan(ref: ResourceRef, now: number): ServePlan;
  /** The manifest body to serve (faults rewrite or freeze it); undefined = 404. */
  manifest(ref: ResourceRef, latest: ManifestVersion | undefined, now: number): ManifestView | undefined;
  /** False hides a segment that exists on disk (publish-delay: not yet "published"). */
  segmentVisible(ref: ResourceRef, now: number): boolean;
  /** A rewrite of the segment's bytes (audio-drop), or undefined to serve the file as it is. */
  segmentBody?(ref: ResourceRef, now: number): ((body: Buffer) => Buffer) | undefined;
}

/** A JSON API route handled before media; return false to fall through. */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

export interface OriginOptions {
  root: string;
  host: string;
  port: number;
  layout: StreamLayout[];
  store: PlaylistStore;
  logger: Logger;
  /** Absolute base URL is only known after listen; streams() builds the /streams body. */
  streams: () => unknown;
  healthy: () => { ok: boolean; detail?: Record<string, unknown> };
  hooks?: OriginHooks;
  api?: ApiHandler;
}

const EXPOSE =
  'Content-Length, Content-Type, Date, Last-Modified, Age, ETag, Cache-Control, X-Testbed-Fault, X-Testbed-Version';

export function setCors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', EXPOSE);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Limits a stream to `bps` bytes per second (chunks are split so the pace is smooth). */
export class Throttle extends Transform {
  private readonly start = Date.now();
  private sent = 0;
  constructor(private readonly bps: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const slice = Math.max(1024, Math.floor(this.bps / 20));
    const pushNext = (offset: number) => {
      if (offset >= chunk.length) return cb();
      const part = chunk.subarray(offset, offset + slice);
      // A slice leaves only once the budget for it has accrued, so the last byte arrives at bytes / bps.
      const dueMs = ((this.sent + part.length) / this.bps) * 1000 - (Date.now() - this.start);
      setTimeout(
        () => {
          this.sent += part.length;
          this.push(part);
          pushNext(offset + part.length);
        },
        Math.max(0, dueMs),
      );
    };
    pushNext(0);
  }
}

/** Decodes and validates a request path to a root-relative path; undefined when unsafe. */
export function safeRelativePath(pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) return undefined;
  return parts.join('/');
}

/**
 * The origin: a plain Node http server over ffmpeg's output directory. Playlists come from the versioned
 * store (so faults can freeze, delay or rewrite them), segments from disk; CORS everywhere; short caching
 * for manifests, long for segments; /time, /streams, /healthz; anything outside the published layout is 404.
 */
export class Origin {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly root: string;

  constructor(private readonly opts: OriginOptions) {
    this.root = resolve(opts.root);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        opts.logger.warn({ err: err.message, url: req.url }, 'origin request failed');
        if (!res.headersSent) sendText(res, 500, 'internal error\n');
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', rej);
        res();
      });
    });
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.opts.port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((res) => this.server.close(() => res()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setCors(res);
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers':
          req.headers['access-control-request-headers'] ?? 'Content-Type, Range',
        'Access-Control-Max-Age': '600',
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://origin.invalid');
    if (url.pathname === '/time' && (method === 'GET' || method === 'HEAD')) {
      sendText(res, 200, new Date().toISOString(), { 'Cache-Control': 'no-cache, no-store' });
      return;
    }
    if (url.pathname === '/healthz') {
      const h = this.opts.healthy();
      sendJson(res, h.ok ? 200 : 503, { ok: h.ok, ...h.detail });
      return;
    }
    if (url.pathname === '/streams' && (method === 'GET' || method === 'HEAD')) {
      sendJson(res, 200, this.opts.streams());
      return;
    }
    if (this.opts.api && (await this.opts.api(req, res, url))) return;
    if (method !== 'GET' && method !== 'HEAD') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD, OPTIONS' });
      return;
    }
    const rel = safeRelativePath(url.pathname);
    const ref = rel === undefined ? undefined : resolveResource(this.opts.layout, rel);
    if (!ref) {
      sendText(res, 404, 'not found\n');
      return;
    }
    await this.serveMedia(res, ref, method === 'HEAD');
  }

  private async serveMedia(res: ServerResponse, ref: ResourceRef, head: boolean) {
    const hooks = this.opts.hooks;
    const plan = hooks?.plan(ref, Date.now()) ?? {};
    if (plan.hang) {
      // Accept and never answer; the socket is released when the fault is removed or the client gives up.
      res.setHeader('X-Testbed-Fault', 'hang');
      await Promise.race([plan.hangUntil ?? new Promise(() => {}), new Promise((r) => res.once('close', r))]);
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (plan.delayMs && plan.delayMs > 0) {
      // res 'close' = the client went away (the response cannot have finished yet).
      const gone = await new Promise<boolean>((r) => {
        const onClose = () => {
          clearTimeout(t);
          r(true);
        };
        const t = setTimeout(() => {
          res.off('close', onClose);
          r(false);
        }, plan.delayMs);
        res.once('close', onClose);
      });
      if (gone) return;
    }
    if (plan.status) {
      sendText(res, plan.status, `injected ${plan.status}\n`, { 'X-Testbed-Fault': 'status' });
      return;
    }
    const type = CONTENT_TYPES[extname(ref.path)] ?? 'application/octet-stream';
    const now = Date.now();
    if (ref.kind === 'master' || ref.kind === 'playlist' || ref.kind === 'mpd') {
      await this.opts.store.refresh(ref.path);
      const latest = this.opts.store.latest(ref.path);
      const view = hooks ? hooks.manifest(ref, latest, now) : latest && { text: latest.text, at: latest.at };
      if (!view) {
        sendText(res, 404, 'not found\n');
        return;
      }
      const body = Buffer.from(view.text);
      res.writeHead(200, {
        'Content-Type': type,
        'Content-Length': body.length,
        'Cache-Control': 'public, max-age=1',
        'Last-Modified': new Date(view.at).toUTCString(),
      });
      await this.writeBody(res, head ? Buffer.alloc(0) : body, plan.throttleBps);
      return;
    }
    if (hooks && !hooks.segmentVisible(ref, now)) {
      sendText(res, 404, 'not found\n');
      return;
    }
    const file = join(this.root, ref.path);
    if (!file.startsWith(this.root + sep)) {
      sendText(res, 404, 'not found\n');
      return;
    }
    let size: number;
    let mtime: Date;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
      mtime = st.mtime;
    } catch {
      sendText(res, 404, 'not found\n');
      return;
    }
    const rewrite = hooks?.segmentBody?.(ref, now);
    if (rewrite) {
      let body: Buffer;
      try {
        body = rewrite(await readFile(file));
      } catch {
        sendText(res, 404, 'not found\n');
        return;
      }
      res.writeHead(200, {
        'Content-Type': type,
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
        'Last-Modified': mtime.toUTCString(),
        'X-Testbed-Fault': 'segment-body',
      });
      await this.writeBody(res, head ? Buffer.alloc(0) : body, plan.throttleBps);
      return;
    }
    const pad =
      plan.pad && ref.kind === 'segment'
        ? paddingFor(ref.path, Math.ceil((plan.pad.bitsPerSecond * plan.pad.durationS) / 8) - size)
        : Buffer.alloc(0);
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': size + pad.length,
      'Cache-Control': ref.kind === 'init' ? 'public, max-age=60' : 'public, max-age=3600',
      'Last-Modified': mtime.toUTCString(),
      ...(pad.length > 0 ? { 'X-Testbed-Fault': 'bitrate-over' } : {}),
    });
    if (head) {
      res.end();
      return;
    }
    const fileStream = createReadStream(file);
    const src =
      pad.length > 0
        ? Readable.from(
            (async function* () {
              yield* fileStream;
              yield pad;
            })(),
          )
        : fileStream;
    try {
      if (plan.throttleBps) await pipeline(src, new Throttle(plan.throttleBps), res);
      else await pipeline(src, res);
    } catch {
      res.destroy();
    }
  }

  private async writeBody(res: ServerResponse, body: Buffer, throttleBps?: number): Promise<void> {
    if (!throttleBps || body.length === 0) {
      res.end(body);
      return;
    }
    const t = new Throttle(throttleBps);
    t.end(body);
    try {
      await pipeline(t, res);
    } catch {
      res.destroy();
    }
  }
}

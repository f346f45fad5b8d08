/**
 * HTTP for playlists and segments: node:http/https with one keep-alive agent per origin (a pool of at most
 * maxSockets connections each), phase timings from socket events (DNS, TCP connect, TLS, first byte, last
 * byte), a body cap, a deadline and redirects. Never throws: every failure is a value.
 *
 * undici is not a dependency of the project and Node's bundled fetch exposes no phases (and costs ~3x the
 * CPU per request here), hence node:http.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { EgressPolicy } from '../../shared/egress.js';
import type { Authorizer } from '../../shared/target-auth.js';
import { applyCmcd, type CmcdWire } from './cmcd.js';
import { mono } from './scheduler.js';

export interface Phases {
  /** Wall time the request started (epoch ms). */
  at: number;
  /** Monotonic start. */
  start: number;
  dns_ms: number;
  connect_ms: number;
  tls_ms: number;
  ttfb_ms: number;
  total_ms: number;
  reused: boolean;
}

export interface HttpOk {
  ok: true;
  status: number;
  headers: IncomingHttpHeaders;
  /** Decoded body when requested (keepBody), else ''. Decoded (UTF-8) on first read: see `raw`. */
  body: string;
  /**
   * The undecoded body (keepBody): a large playlist is compared and handed to the parse worker as bytes,
   * so its decoding to a string does not cost the event loop unless something reads `body`.
   */
  raw?: Buffer;
  bytes: number;
  /** Final URL after redirects. */
  url: string;
  phases: Phases;
}

export interface HttpFail {
  ok: false;
  /** blocked: refused by the egress policy (the URL, a redirect hop, or the address a name resolved to). */
  kind: 'timeout' | 'network' | 'too-large' | 'aborted' | 'bad-url' | 'blocked';
  error: string;
  url: string;
  phases: Phases;
}

export type HttpResult = HttpOk | HttpFail;

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  /** Inclusive byte range for a Range request. */
  range?: { start: number; end: number };
  timeoutMs: number;
  maxBytes: number;
  keepBody: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /**
   * Protected target: adds its credentials (headers, query token) to each hop whose host they are for. The
   * result's `url` stays the URL without them, so no computed token reaches a report.
   */
  authorize?: Authorizer;
  /**
   * Called as the body arrives (each chunk): bytes so far, the expected total (Content-Length) when known, and
   * the time to the headers; lets a caller judge a download while it is still running.
   */
  onProgress?(p: { bytes: number; totalBytes: number | undefined; ttfbMs: number }): void;
  /** CMCD for this request (probes/stream/cmcd.ts), added to each hop; the result's `url` stays without it. */
  cmcd?: CmcdWire;
}

/** Gives `r` its undecoded body and a `body` decoded from it on first read (then kept). */
export function withRawBody(r: HttpOk, raw: Buffer): HttpOk {
  let text: string | undefined;
  r.raw = raw;
  Object.defineProperty(r, 'body', {
    enumerable: true,
    configurable: true,
    get: () => {
      text ??= raw.toString('utf8');
      return text;
    },
  });
  return r;
}

const STALE_SOCKET = /ECONNRESET|EPIPE|ECONNABORTED|socket hang up/;

export class HttpClient {
  private agents = new Map<string, http.Agent>();

  constructor(
    private readonly opts: {
      maxSockets: number;
      headers?: Record<string, string>;
      /** Checked on every URL (each redirect hop) and on the resolved address at connect time. */
      egress?: EgressPolicy;
    } = { maxSockets: 64 },
  ) {}

  private agentFor(u: URL): http.Agent {
    const key = `${u.protocol}//${u.host}`;
    let a = this.agents.get(key);
    if (!a) {
      const o = {
        keepAlive: true,
        keepAliveMsecs: 15_000,
        // Idle sockets are dropped after 4 s, before Node's default server keep-alive timeout (5 s).
        timeout: 4000,
        maxSockets: this.opts.maxSockets,
        maxFreeSockets: this.opts.maxSockets,
        scheduling: 'lifo' as const,
        ...(this.opts.egress?.enforce ? { lookup: this.opts.egress.lookup } : {}),
      };
      a = u.protocol === 'https:' ? new https.Agent(o) : new http.Agent(o);
      this.agents.set(key, a);
    }
    return a;
  }

  async request(url: string, o: RequestOptions): Promise<HttpResult> {
    let current = url;
    let retried = false;
    for (let hop = 0; hop < 5; hop++) {
      let r = await this.once(current, o);
      // A keep-alive socket the server closed just as we reused it (its idle timeout racing our request):
      // the request never reached it; GET/HEAD are idempotent, so once more on a fresh connection.
      if (!r.ok && r.kind === 'network' && r.phases.reused && !retried && STALE_SOCKET.test(r.error)) {
        retried = true;
        r = await this.once(current, o);
      }
      if (!r.ok || r.status < 300 || r.status >= 400 || r.status === 304) return r;
      const loc = r.headers.location;
      if (!loc) return r;
      try {
        current = new URL(loc, current).href;
      } catch {
        return r;
      }
    }
    return this.once(current, o);
  }

  private once(url: string, o: RequestOptions): Promise<HttpResult> {
    const phases: Phases = {
      at: Date.now(),
      start: mono(),
      dns_ms: 0,
      connect_ms: 0,
      tls_ms: 0,
      ttfb_ms: 0,
      total_ms: 0,
      reused: false,
    };
    let u: URL;
    let extra: Record<string, string> = {};
    try {
      u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw new Error(`unsupported scheme ${u.protocol}`);
      const verdict = this.opts.egress?.checkUrl(url);
      if (verdict && !verdict.ok)
        return Promise.resolve({
          ok: false,
          kind: 'blocked',
          error: `blocked by egress policy: ${verdict.reason}`,
          url,
          phases,
        });
      if (o.authorize) {
        const a = o.authorize(url);
        u = new URL(a.url);
        extra = a.headers;
      }
    } catch (err) {
      return Promise.resolve({
        ok: false,
        kind: 'bad-url',
        error: String((err as Error).message),
        url,
        phases,
      });
    }
    return new Promise<HttpResult>((resolve) => {
      let done = false;
      const finish = (r: HttpResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        phases.total_ms = mono() - phases.start;
        resolve(r);
      };
      const fail = (kind: HttpFail['kind'], error: string) => {
        finish({ ok: false, kind, error: error.slice(0, 300), url, phases });
        req.destroy();
      };
      const headers: Record<string, string> = { ...this.opts.headers, ...o.headers, ...extra };
      applyCmcd(u, headers, o.cmcd);
      if (o.range) headers.range = `bytes=${o.range.start}-${o.range.end}`;
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request(u, {
        method: o.method ?? 'GET',
        agent: this.agentFor(u),
        headers,
        signal: o.signal,
      });
      const timer = setTimeout(() => fail('timeout', `timeout after ${o.timeoutMs} ms`), o.timeoutMs);
      req.on('socket', (s: Socket) => {
        if (!s.connecting) {
          phases.reused = true;
          return;
        }
        let mark = phases.start;
        s.once('lookup', () => {
          const t = mono();
          phases.dns_ms = t - mark;
          mark = t;
        });
        s.once('connect', () => {
          const t = mono();
          phases.connect_ms = t - mark;
          mark = t;
        });
        s.once('secureConnect', () => {
          phases.tls_ms = mono() - mark;
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') fail('aborted', 'aborted');
        else if (err.code === 'EBLOCKEDBYPOLICY') fail('blocked', err.message);
        else fail('network', err.code ? `${err.code}: ${err.message}` : err.message);
      });
      req.on('response', (res) => {
        phases.ttfb_ms = mono() - phases.start;
        const chunks: Buffer[] = [];
        let bytes = 0;
        // With a Content-Length the body is copied once into its final buffer (no concat of a 4 MiB list).
        const declared = Number(res.headers['content-length']);
        const totalBytes = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
        let whole =
          o.keepBody &&
          o.method !== 'HEAD' &&
          Number.isSafeInteger(declared) &&
          declared > 0 &&
          declared <= o.maxBytes
            ? Buffer.allocUnsafe(declared)
            : undefined;
        res.on('data', (c: Buffer) => {
          if (bytes + c.length > o.maxBytes) {
            bytes += c.length;
            fail('too-large', `body over ${o.maxBytes} bytes`);
            return;
          }
          if (whole && bytes + c.length <= whole.length) c.copy(whole, bytes);
          else if (o.keepBody) {
            if (whole) chunks.push(whole.subarray(0, bytes));
            whole = undefined;
            chunks.push(c);
          }
          bytes += c.length;
          if (o.onProgress && !done) {
            try {
              o.onProgress({ bytes, totalBytes, ttfbMs: phases.ttfb_ms });
            } catch {
              // a listener's failure is not the download's
            }
          }
        });
        res.on('end', () => {
          const ok: HttpOk = {
            ok: true,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: '',
            bytes,
            url,
            phases,
          };
          if (o.keepBody) {
            const raw =
              whole && bytes === whole.length
                ? whole
                : whole
                  ? whole.subarray(0, bytes)
                  : chunks.length === 1
                    ? chunks[0]!
                    : Buffer.concat(chunks);
            withRawBody(ok, raw);
          }
          finish(ok);
        });
        res.on('error', (err) => fail('network', err.message));
        res.on('aborted', () => fail('network', 'response aborted'));
      });
      req.end();
    });
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from './http.js';

let server: Server;
let base: string;
const served = new WeakMap<object, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (req.url === '/flaky' && n > 1) {
      // The server drops a kept-alive connection as the next request arrives on it.
      req.socket.destroy();
      return;
    }
    if (req.url === '/big') {
      res.end(Buffer.alloc(200_000, 1));
      return;
    }
    if (req.url === '/hang') return;
    if (req.url === '/utf8-sized' || req.url === '/utf8-chunked') {
      // a multi-byte character split across two writes; with and without Content-Length
      const body = Buffer.from('#EXTM3U\n# caf\u00e9 \u2713\n');
      const cut = body.indexOf(0xc3) + 1;
      if (req.url === '/utf8-sized') res.setHeader('content-length', body.length);
      res.write(body.subarray(0, cut));
      setTimeout(() => res.end(body.subarray(cut)), 20);
      return;
    }
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/ok' });
      res.end();
      return;
    }
    res.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const opts = { timeoutMs: 2000, maxBytes: 100_000, keepBody: true };

describe('HttpClient', () => {
  it('reuses keep-alive connections and times the phases', async () => {
    const c = new HttpClient({ maxSockets: 4 });
    const a = await c.request(`${base}/ok`, opts);
    const b = await c.request(`${base}/ok`, opts);
    expect(a.ok && a.body).toBe('hello');
    expect(a.phases.reused).toBe(false);
    expect(b.phases.reused).toBe(true);
    expect(a.phases.ttfb_ms).toBeGreaterThanOrEqual(a.phases.connect_ms);
    c.close();
  });

  it('retries once when a reused connection turns out closed', async () => {
    const c = new HttpClient({ maxSockets: 1 });
    expect((await c.request(`${base}/flaky`, opts)).ok).toBe(true);
    const r = await c.request(`${base}/flaky`, opts);
    expect(r.ok && r.body).toBe('hello');
    c.close();
  });

  it('caps bodies, times out, follows redirects, never throws', async () => {
    const c = new HttpClient({ maxSockets: 4 });
    const big = await c.request(`${base}/big`, opts);
    expect(!big.ok && big.kind).toBe('too-large');
    const hang = await c.request(`${base}/hang`, { ...opts, timeoutMs: 200 });
    expect(!hang.ok && hang.kind).toBe('timeout');
    const moved = await c.request(`${base}/redirect`, opts);
    expect(moved.ok && moved.url).toBe(`${base}/ok`);
    const bad = await c.request('ftp://example.com/x', opts);
    expect(!bad.ok && bad.kind).toBe('bad-url');
    const refused = await c.request('http://127.0.0.1:1/x', opts);
    expect(!refused.ok && refused.kind).toBe('network');
    c.close();
  });
});

describe('bodies', () => {
  it('keeps the undecoded bytes and decodes them on first read, with or without Content-Length', async () => {
    const client = new HttpClient({ maxSockets: 4 });
    try {
      for (const path of ['/utf8-sized', '/utf8-chunked']) {
        const r = await client.request(`${base}${path}`, opts);
        if (!r.ok) throw new Error(r.error);
        expect(r.raw?.toString('utf8')).toBe('#EXTM3U\n# caf\u00e9 \u2713\n');
        expect(r.body).toBe('#EXTM3U\n# caf\u00e9 \u2713\n');
        expect(r.bytes).toBe(r.raw?.length);
      }
      const head = await client.request(`${base}/utf8-sized`, { ...opts, method: 'HEAD' });
      expect(head.ok && head.body).toBe('');
    } finally {
      client.close();
    }
  });
});

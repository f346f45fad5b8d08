/**
 * The browser probe under attack, in real Chromium: a protected playlist whose segments point into the
 * agent's network (the egress policy must stop Chromium's own request, while the target's credentials still
 * reach its origin through the same interception), and a page that would read the browser's environment
 * (/proc/<pid>/environ must hold no NATS or API secret).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserProber } from '../../probes/browser/index.js';
import { EgressPolicy } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import { TargetAuth } from '../../shared/target-auth.js';

const HEADER_SECRET = 'cdn-header-secret-77';
const NATS_SECRET = 'nats-token-secret-88';

describe('browser probe: egress policy, credentials and environment of Chromium', () => {
  const logger = createLogger('test', 'silent');
  let inside: http.Server;
  let origin: http.Server;
  const insideHits: string[] = [];
  const originHits: { path: string; authorized: boolean }[] = [];
  let prober: BrowserProber;
  const saved = { nats: process.env.NATS_TOKEN, secret: process.env.LIVEPROBE_SECRET_CDN_HEADER };

  beforeAll(async () => {
    inside = http.createServer((req, res) => {
      insideHits.push(req.url ?? '');
      res.writeHead(200, { 'access-control-allow-origin': '*' }).end(Buffer.alloc(188));
    });
    inside.listen(0, '127.0.0.1');
    await once(inside, 'listening');
    const insidePort = (inside.address() as AddressInfo).port;
    origin = http.createServer((req, res) => {
      const authorized = req.headers['x-cdn-key'] === HEADER_SECRET;
      originHits.push({ path: req.url ?? '', authorized });
      // hls.js fetches with CORS; a preflight for the added header never reaches us (Fetch adds it after)
      const cors = { 'access-control-allow-origin': '*' };
      if (!authorized) return void res.writeHead(403, cors).end();
      const n = Math.floor(Date.now() / 2000);
      res.writeHead(200, { ...cors, 'content-type': 'application/vnd.apple.mpegurl' });
      res.end(
        `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${n}\n` +
          [0, 1, 2].map((i) => `#EXTINF:2.0,\nhttp://127.0.0.1:${insidePort}/seg${n + i}.ts\n`).join(''),
      );
    });
    origin.listen(0, '127.0.0.2');
    await once(origin, 'listening');
    // the agent's process holds secrets Chromium must not inherit
    process.env.NATS_TOKEN = NATS_SECRET;
    process.env.LIVEPROBE_SECRET_CDN_HEADER = HEADER_SECRET;
    prober = new BrowserProber({ logger, maxSessions: 1, egress: new EgressPolicy(['127.0.0.2/32']) });
  });

  afterAll(async () => {
    await prober?.close();
    origin?.close();
    inside?.close();
    for (const [k, v] of [
      ['NATS_TOKEN', saved.nats],
      ['LIVEPROBE_SECRET_CDN_HEADER', saved.secret],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('stops segment requests into the network as blocked-by-policy, after an authorized playlist load', async () => {
    const port = (origin.address() as AddressInfo).port;
    const result = await prober.run(
      {
        target: { id: 'prot', url: `http://127.0.0.2:${port}/live.m3u8`, protocol: 'hls' },
        mode: 'check',
        durationS: 10,
        expectations: {},
        auth: TargetAuth.parse({ headers: { 'X-Cdn-Key': { secretRef: 'cdn-header' } } }),
      },
      { signal: new AbortController().signal, logger },
    );
    expect(originHits.some((h) => h.authorized)).toBe(true);
    expect(result.outcome).toBe('probe-error');
    expect(result.reasons.join(' ')).toMatch(/blocked-by-policy/);
    expect(insideHits).toEqual([]);
    expect(JSON.stringify(result)).not.toContain(HEADER_SECRET);

    // Chromium's environment (what a renderer exploit or a crash dump would see)
    const pid = prober.health().pid;
    expect(pid).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    expect(environ).not.toContain(NATS_SECRET);
    expect(environ).not.toContain(HEADER_SECRET);
    expect(environ).not.toMatch(/(^|\0)(NATS_|LIVEPROBE_)/);
    expect(environ).toMatch(/(^|\0)PATH=/);
  }, 90_000);
});

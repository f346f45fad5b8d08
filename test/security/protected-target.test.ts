/**
 * Protected targets against a real origin that checks credentials: the stream probe sends the target's
 * header, cookie and a per-request Akamai-style token (secrets resolved on the agent from a secrets dir), the
 * origin verifies the HMAC itself, and nothing secret comes back in the report.
 */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamProber } from '../../probes/stream/index.js';
import { createLogger } from '../../shared/log.js';
import {
  createAuthorizer,
  type TargetAuth,
  TargetAuth as TargetAuthSchema,
} from '../../shared/target-auth.js';
import { tempDir } from '../helpers/procs.js';

const KEY_HEX = '00112233445566778899aabbccddeeff';
const HEADER_SECRET = 'header-secret-value-42';
const COOKIE_SECRET = 'cookie-secret-value-43';

/** The CDN's side of an EdgeAuth token: recompute the HMAC and check the window. */
function validHdnts(token: string | null): boolean {
  if (!token) return false;
  const m = /^(st=(\d+)~exp=(\d+)~acl=([^~]+))~hmac=([0-9a-f]{64})$/.exec(token);
  if (!m) return false;
  const mac = createHmac('sha256', Buffer.from(KEY_HEX, 'hex'))
    .update(m[1] as string)
    .digest('hex');
  return mac === m[5] && Number(m[3]) * 1000 > Date.now();
}

const MEDIA = (n: number) =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${n}\n` +
  [0, 1, 2].map((i) => `#EXTINF:2.0,\nseg${n + i}.ts\n`).join('');

describe('protected targets: headers, cookies and HMAC tokens resolved on the agent', () => {
  const secrets = tempDir('lp-secrets');
  let origin: http.Server;
  let base = '';
  const seen: { path: string; ok: boolean }[] = [];

  beforeAll(async () => {
    writeFileSync(join(secrets.path, 'cdn-key'), `${KEY_HEX}\n`);
    writeFileSync(join(secrets.path, 'cdn-header'), HEADER_SECRET);
    origin = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const ok =
        req.headers['x-cdn-key'] === HEADER_SECRET &&
        (req.headers.cookie ?? '').includes(`session=${COOKIE_SECRET}`) &&
        validHdnts(u.searchParams.get('hdnts'));
      seen.push({ path: u.pathname, ok });
      if (!ok) {
        res.writeHead(403).end();
        return;
      }
      if (u.pathname === '/live.m3u8') {
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
        res.end(MEDIA(Math.floor(Date.now() / 2000)));
        return;
      }
      res.writeHead(200, { 'content-type': 'video/mp2t' }).end(Buffer.alloc(1880));
    });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    origin?.close();
    secrets.remove();
  });

  const auth: TargetAuth = TargetAuthSchema.parse({
    headers: { 'X-Cdn-Key': { secretRef: 'cdn-header' } },
    cookies: { session: { secretRef: 'COOKIE' } },
    token: { type: 'akamai-hdnts', secretRef: 'cdn-key', windowS: 60 },
  });

  it('computes tokens the CDN accepts, only for the target host', () => {
    const authorize = createAuthorizer(`${base}/live.m3u8`, auth, {
      dir: secrets.path,
      env: { LIVEPROBE_SECRET_COOKIE: COOKIE_SECRET },
    });
    const a = authorize(`${base}/seg1.ts?x=1`);
    expect(validHdnts(new URL(a.url).searchParams.get('hdnts'))).toBe(true);
    expect(new URL(a.url).searchParams.get('x')).toBe('1');
    expect(a.headers).toMatchObject({ 'X-Cdn-Key': HEADER_SECRET, cookie: `session=${COOKIE_SECRET}` });
    // another host (a third-party segment host, a redirect elsewhere) gets nothing
    expect(authorize('http://other.example/seg.ts')).toEqual({
      url: 'http://other.example/seg.ts',
      headers: {},
    });
    // the generic HMAC query token: HMAC-SHA256(secret, path + expires)
    const hmac = createAuthorizer(
      `${base}/live.m3u8`,
      TargetAuthSchema.parse({ token: { type: 'hmac-query', secretRef: 'k' } }),
      { env: { LIVEPROBE_SECRET_K: 's3cret' }, now: () => 1_700_000_000_000 },
    )(`${base}/a/b.m3u8`);
    const q = new URL(hmac.url).searchParams;
    expect(q.get('expires')).toBe('1700000300');
    expect(q.get('token')).toBe(createHmac('sha256', 's3cret').update('/a/b.m3u81700000300').digest('hex'));
    // a missing secret names where it was looked for
    expect(() =>
      createAuthorizer(base, TargetAuthSchema.parse({ query: { t: { secretRef: 'nope' } } }), { env: {} }),
    ).toThrow(/LIVEPROBE_SECRET_NOPE/);
  });

  it('a stream probe of the protected target passes the origin; the report carries no secret', async () => {
    const prev = process.env.LIVEPROBE_SECRET_COOKIE;
    process.env.LIVEPROBE_SECRET_COOKIE = COOKIE_SECRET;
    const prober = new StreamProber({ logger: createLogger('test', 'silent'), secretsDir: secrets.path });
    try {
      const result = await prober.run(
        {
          target: { id: 'prot', url: `${base}/live.m3u8`, protocol: 'hls' },
          mode: 'check',
          durationS: 3,
          expectations: {},
          auth,
        },
        { signal: new AbortController().signal, logger: createLogger('test', 'silent') },
      );
      expect(seen.filter((s) => s.path === '/live.m3u8' && s.ok).length).toBeGreaterThan(0);
      expect(seen.some((s) => s.path.endsWith('.ts') && s.ok)).toBe(true);
      expect(seen.every((s) => s.ok)).toBe(true);
      expect(result.errors.filter((e) => e.category === 'http')).toEqual([]);
      const text = JSON.stringify(result);
      for (const secret of [KEY_HEX, HEADER_SECRET, COOKIE_SECRET, 'hdnts', 'hmac='])
        expect(text).not.toContain(secret);
    } finally {
      await prober.close();
      if (prev === undefined) delete process.env.LIVEPROBE_SECRET_COOKIE;
      else process.env.LIVEPROBE_SECRET_COOKIE = prev;
    }
  });

  it('a missing secret is a probe-error naming it, not a stream failure', async () => {
    const prober = new StreamProber({ logger: createLogger('test', 'silent'), secretsDir: secrets.path });
    try {
      const result = await prober.run(
        {
          target: { id: 'prot', url: `${base}/live.m3u8`, protocol: 'hls' },
          mode: 'check',
          durationS: 1,
          expectations: {},
          auth: TargetAuthSchema.parse({ headers: { 'X-Cdn-Key': { secretRef: 'not-there' } } }),
        },
        { signal: new AbortController().signal, logger: createLogger('test', 'silent') },
      );
      expect(result.outcome).toBe('probe-error');
      expect(result.reasons.join(' ')).toContain('secret not-there not found');
    } finally {
      await prober.close();
    }
  });
});

/**
 * Row-level truth on real parts (issue #18 item 6): CMCD on the stream probe's requests (query and header
 * mode) and on the dash.js path, seen by a recording proxy in front of the real testbed; the stream probe's
 * per-segment phases in its report. One full-ladder testbed and one Chromium for the file.
 */
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserProber } from '../probes/browser/index.js';
import { StreamProber } from '../probes/stream/index.js';
import { createLogger } from '../shared/log.js';
import { ProbeResult } from '../shared/schemas.js';
import { startTestbed, type Testbed } from '../testbed/index.js';

const logger = createLogger('row-truth-e2e', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');

let testbed: Testbed;
let browser: BrowserProber;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

/** A pass-through proxy in front of the testbed that records every request's URL and headers. */
async function recordingProxy(onRequest?: (s: Seen) => void) {
  const seen: Seen[] = [];
  const up = new URL(testbed.url);
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    onRequest?.({ path: req.url ?? '', headers: req.headers });
    const fwd = request(
      { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', () => res.writeHead(502).end());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    seen,
    url: (stream: string) => {
      const s = testbed.streams.find((x) => x.id === stream);
      if (!s) throw new Error(`testbed has no ${stream}`);
      return s.url.replace(testbed.url, base);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** CMCD key=value list -> map (bare keys are true, quoted strings unquoted). */
function parseCmcd(text: string | null | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const i = part.indexOf('=');
    if (i < 0) out[part] = true;
    else {
      const v = part.slice(i + 1);
      // Strings are quoted; numbers bare; tokens (ot=v, st=l) bare and not numeric.
      out[part.slice(0, i)] = v.startsWith('"') ? JSON.parse(v) : Number.isNaN(Number(v)) ? v : Number(v);
    }
  }
  return out;
}

const isMedia = (p: string) => /\.(ts|m4s)(\?|$)/.test(p);
const isManifest = (p: string) => /\.(m3u8|mpd)(\?|$)/.test(p);

async function streamRun(mode: 'query' | 'header', url: string, protocol: 'hls' | 'dash') {
  const p = new StreamProber({ masterIntervalS: 1, logger, cmcd: { mode } });
  try {
    return await p.run(
      { target: { id: `cmcd-${mode}`, url, protocol }, mode: 'check', durationS: 6, expectations: {} },
      { signal: new AbortController().signal, logger },
    );
  } finally {
    await p.close();
  }
}

/** A stream-probe check straight at the testbed, with `fault` (publish-delay...) active for its whole run. */
async function check(fault: Record<string, unknown> | undefined, durationS = 6): Promise<ProbeResult> {
  const id = fault ? testbed.faults.inject({ stream: 'hls-ts', ...fault }).id : undefined;
  const p = new StreamProber({ masterIntervalS: 1, logger });
  try {
    const s = testbed.streams.find((x) => x.id === 'hls-ts')!;
    return await p.run(
      { target: { id: 'truth', url: s.url, protocol: 'hls' }, mode: 'check', durationS, expectations: {} },
      { signal: new AbortController().signal, logger },
    );
  } finally {
    if (id) testbed.faults.remove(id);
    await p.close();
  }
}

beforeAll(async () => {
  testbed = await startTestbed({ port: 0, ladder: 'full', segmentS: 1, logger });
  browser = new BrowserProber({ logger });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await testbed?.stop();
});

describe('row-level truth through a recording proxy', () => {
  it('stream probe, CMCD query mode: sid per run, cid, st, ot m/v/a, br from the ladder, mtp, su; reports stay clean', async () => {
    const proxy = await recordingProxy();
    try {
      const r = await streamRun('query', proxy.url('hls-ts'), 'hls');
      ProbeResult.parse(r);
      // CMCD is the point here; a loaded machine may make the stream degraded, never our own error.
      expect(r.outcome).not.toBe('probe-error');
      const all = proxy.seen.map((s) => ({
        path: s.path,
        c: parseCmcd(new URL(s.path, 'http://x').searchParams.get('CMCD')),
      }));
      expect(all.length).toBeGreaterThan(10);
      for (const { c } of all) {
        expect(c.sid).toMatch(/^[0-9a-f-]{36}$/);
        expect(c.cid).toBe('cmcd-query');
        expect(c.st).toBe('l');
        expect(c['com.liveprobe-synthetic']).toBe(true);
      }
      expect(new Set(all.map((x) => x.c.sid)).size).toBe(1);
      const manifests = all.filter((x) => isManifest(x.path));
      const media = all.filter((x) => isMedia(x.path));
      expect(manifests.length).toBeGreaterThan(3);
      expect(media.length).toBeGreaterThan(3);
      for (const m of manifests) expect(m.c.ot).toBe('m');
      // br is the rendition's advertised BANDWIDTH in kbit/s, as the master lists it.
      const master = await (await fetch(testbed.streams.find((s) => s.id === 'hls-ts')!.url)).text();
      const bw = new Map<string, number>();
      for (const m of master.matchAll(/BANDWIDTH=(\d+)[^\n]*\n([^/\n]+)\//g))
        bw.set(m[2]!, Math.round(Number(m[1]) / 1000));
      expect(bw.size).toBeGreaterThan(1);
      for (const m of media) {
        const name = m.path.split('/').at(-2) ?? '';
        expect(m.c.ot).toBe(name === 'audio' ? 'a' : 'v');
        if (name !== 'audio') expect(m.c.br).toBe(bw.get(name));
      }
      // Start-up until the first segment completed; after it, the measured throughput (multiple of 100).
      expect(all[0]?.c.su).toBe(true);
      const later = all.filter((x) => x.c.mtp !== undefined);
      expect(later.length).toBeGreaterThan(0);
      for (const x of later) {
        expect(x.c.su).toBeUndefined();
        expect((x.c.mtp as number) % 100).toBe(0);
      }
      // Reports show the stream's URLs, never our CMCD argument; the phases reach them.
      expect(r.segments.length).toBeGreaterThan(0);
      for (const seg of r.segments) {
        expect(seg.url).not.toContain('CMCD');
        expect(seg.transfer_ms).toBeTypeOf('number');
        expect(seg.reused).toBeTypeOf('boolean');
      }
      expect(r.segmentPhases?.samples).toBe(r.metrics.segments_total);
      expect(r.segmentPhases?.ttfb_ms?.p95).toBeGreaterThanOrEqual(r.segmentPhases?.ttfb_ms?.p50 ?? 0);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('stream probe, CMCD header mode on DASH: keys in their CMCD-* headers, no query argument', async () => {
    const proxy = await recordingProxy();
    try {
      const r = await streamRun('header', proxy.url('dash'), 'dash');
      ProbeResult.parse(r);
      // CMCD is the point here; a loaded machine may make the stream degraded, never our own error.
      expect(r.outcome).not.toBe('probe-error');
      const probe = proxy.seen.filter((s) => s.headers['cmcd-session'] !== undefined);
      expect(probe.length).toBeGreaterThan(3);
      for (const s of probe) {
        expect(s.path).not.toContain('CMCD');
        const session = parseCmcd(s.headers['cmcd-session'] as string);
        expect(session.cid).toBe('cmcd-header');
        expect(session.st).toBe('l');
        expect(session.sid).toMatch(/^[0-9a-f-]{36}$/);
        const object = parseCmcd(s.headers['cmcd-object'] as string);
        // ot: m for the MPD, c for the WebVTT text Representation, v / a for media
        const ot = isManifest(s.path) ? ['m'] : /\.vtt(\?|$)/.test(s.path) ? ['c'] : ['v', 'a'];
        expect(ot, s.path).toContain(object.ot);
        if (isMedia(s.path)) expect(object.br).toBeGreaterThan(0);
      }
      expect(probe.some((s) => parseCmcd(s.headers['cmcd-request'] as string).su === true)).toBe(true);
      expect(probe.some((s) => parseCmcd(s.headers['cmcd-request'] as string).mtp !== undefined)).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('dash.js path: every MPD and segment request carries CMCD (sid, cid, st, ot, br, bl, mtp, su)', async () => {
    // dash.js sends mtp once it has a throughput estimate: play until a media request carries it (bounded).
    const ac = new AbortController();
    const proxy = await recordingProxy((s) => {
      if (
        isMedia(s.path) &&
        parseCmcd(new URL(s.path, 'http://x').searchParams.get('CMCD')).mtp !== undefined
      )
        ac.abort();
    });
    try {
      const r = await browser.run(
        {
          target: { id: 'cmcd-dash', url: proxy.url('dash'), protocol: 'dash' },
          durationS: 45,
          mode: 'check',
          expectations: {},
        },
        { signal: ac.signal, logger },
      );
      // The session is cut as soon as dash.js sends mtp, which can be before its first frame: this test is about
      // the requests, so it does not judge the playback.
      ProbeResult.parse(r);
      const reqs = proxy.seen
        .filter((s) => isMedia(s.path) || isManifest(s.path))
        .map((s) => ({ path: s.path, c: parseCmcd(new URL(s.path, 'http://x').searchParams.get('CMCD')) }));
      console.log(JSON.stringify({ dashCmcd: reqs.slice(0, 6) }));
      expect(reqs.length).toBeGreaterThan(3);
      for (const { c } of reqs) {
        expect(c.sid).toMatch(/^[0-9a-f-]{36}$/);
        expect(c.cid).toBe('cmcd-dash');
      }
      expect(new Set(reqs.map((x) => x.c.sid)).size).toBe(1);
      expect(reqs.filter((x) => isManifest(x.path)).every((x) => x.c.ot === 'm')).toBe(true);
      const media = reqs.filter((x) => isMedia(x.path) && !/init/.test(x.path));
      expect(media.length).toBeGreaterThan(2);
      for (const m of media) {
        expect(m.c.st).toBe('l');
        expect(['v', 'a', 'av']).toContain(m.c.ot);
        expect(m.c.br).toBeGreaterThan(0);
      }
      expect(media.some((m) => typeof m.c.bl === 'number')).toBe(true);
      expect(media.some((m) => typeof m.c.mtp === 'number')).toBe(true);
      expect(media.some((m) => m.c.su === true)).toBe(true);
      // Reports show the stream's URLs, not our CMCD argument.
      expect(r.segments.every((s) => !s.url.includes('CMCD'))).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('availability delay against a known publish delay, and cross-variant mseq drift on a real origin', async () => {
    const base = await check(undefined);
    const held = await check({ type: 'publish-delay', ms: 3000 });
    const b = base.metrics.segment_availability_delay_p50_ms;
    const h = held.metrics.segment_availability_delay_p50_ms;
    console.log(JSON.stringify({ availability: { base: b, held: h } }));
    expect(b).toBeTypeOf('number');
    expect(h).toBeTypeOf('number');
    // The origin held publication back by exactly 3000 ms: the probe reads that, within one target duration.
    expect(Math.abs((h as number) - (b as number) - 3000)).toBeLessThanOrEqual(1000);

    // One rendition published 4 s (4 segments) late on the same origin: the drift check names it alone.
    const drift = await check({ rendition: '240p', type: 'publish-delay', ms: 4000 });
    const found = drift.findings.filter((f) => f.code === 'variant-mseq-drift');
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) expect(f.variant).toContain('240p');
    expect(found[0]?.evidence).toMatch(/segments off the other renditions/);
  }, 60_000);
});

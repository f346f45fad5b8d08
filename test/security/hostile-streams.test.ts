/**
 * Hostile streams against the real stream probe, while a heartbeat-like timer ticks on the same event loop:
 * an MPD of 5000 Representations, a template that expands to a million segments, a 4 MiB live media
 * playlist of 70 000 segments (all refused as manifest-too-large before anything is expanded or checked),
 * and a 3.5 MiB playlist of long URIs that changes on every reload (parsed in the parse worker, off the
 * loop, and followed). The ticks keep their cadence, and the loop's delay is measured (perf_hooks).
 *
 * The origin serves bodies built before the measurement (building a 4 MiB string per request would itself
 * stall the loop being measured). The loop-delay figures are printed, not asserted (see the last comment
 * below); measured at a load average of ~20 on the shared 2-core machine: max 103 ms, p99 58 ms (266 / 133
 * before the parse worker took bytes and returned documents without their text). --cpu-prof puts the
 * probe's own longest task per reload of the 3.5 MiB playlist under 30 ms (95-150 ms before).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamProber } from '../../probes/stream/index.js';
import { createLogger } from '../../shared/log.js';

const logger = createLogger('test', 'silent');

const mpdHead = (extra = '') =>
  `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2020-01-01T00:00:00Z" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT60S" profiles="urn:mpeg:dash:profile:isoff-live:2011"${extra}><Period id="0" start="PT0S">`;

/** 5000 Representations sharing one small template: small per Representation, huge in total. */
const manyReps = `${mpdHead()}<AdaptationSet mimeType="video/mp4"><SegmentTemplate timescale="1" duration="2" media="s_$RepresentationID$_$Number$.m4s" initialization="i.mp4" startNumber="1"/>${Array.from(
  { length: 5000 },
  (_, i) =>
    `<Representation id="v${i}" bandwidth="${100000 + i}" width="640" height="360" codecs="avc1.64001e"/>`,
).join('')}</AdaptationSet></Period></MPD>`;

/** One Representation whose timeline repeats a million times. */
const millionSegments = `${mpdHead()}<AdaptationSet mimeType="video/mp4"><SegmentTemplate timescale="1000" media="s_$Number$.m4s" initialization="i.mp4" startNumber="1"><SegmentTimeline><S t="0" d="1" r="999999"/></SegmentTimeline></SegmentTemplate><Representation id="v0" bandwidth="100000" codecs="avc1.64001e"/></AdaptationSet></Period></MPD>`;

/** A live media playlist of about `bytes`, one segment newer on every request. */
function bigPlaylist(n: number, bytes: number, uriPad: number): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', `#EXT-X-MEDIA-SEQUENCE:${n}`];
  const pad = 'x'.repeat(uriPad);
  for (let i = 0, size = 0; size < bytes; i++) {
    const l = `#EXTINF:2.000,\nsegment-${n + i}-${pad}.ts`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n');
}

describe('hostile streams cannot stall the stream probe or its agent', () => {
  let origin: http.Server;
  let base = '';
  let reloads = 0;
  let longReloads = 0;
  const wideMedia = new Set<string>();
  let fatBytes = 0;
  // Successive versions of the live playlists, one segment newer each; the last is repeated.
  const hugeVersions = Array.from({ length: 3 }, (_, i) =>
    Buffer.from(bigPlaylist(1000 + i, 4 * 1024 * 1024 - 4096, 26)),
  );
  const longVersions = Array.from({ length: 8 }, (_, i) =>
    Buffer.from(bigPlaylist(1000 + i, 3.5 * 1024 * 1024, 220)),
  );
  const manyBody = Buffer.from(manyReps);
  const version = (list: Buffer[], i: number) => list[Math.min(i, list.length - 1)]!;

  beforeAll(async () => {
    origin = http.createServer((req, res) => {
      if (req.url === '/many.mpd') return void res.end(manyBody);
      if (req.url === '/million.mpd') return void res.end(millionSegments);
      // 4 MiB of short segment lines: ~70 000 segments
      if (req.url === '/huge.m3u8') return void res.end(version(hugeVersions, reloads++));
      // 3.5 MiB of long segment URIs: ~15 000 segments, within the count budget, parsed off the loop
      if (req.url === '/long.m3u8') return void res.end(version(longVersions, longReloads++));
      // a master of 5000 renditions: each one a playlist the probe would reload every few seconds
      if (req.url === '/wide.m3u8')
        return void res.end(
          `#EXTM3U\n${Array.from({ length: 5000 }, (_, i) => `#EXT-X-STREAM-INF:BANDWIDTH=${100000 + i}\nv/${i}.m3u8`).join('\n')}\n`,
        );
      if (req.url?.startsWith('/v/')) {
        wideMedia.add(req.url);
        return void res.end(
          '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\ns1.ts\n',
        );
      }
      // a live playlist of fat segments (512 KiB each), one more every request
      if (req.url === '/fat.m3u8') {
        const n = Math.floor(Date.now() / 500);
        return void res.end(
          `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:${n}\n${[0, 1, 2].map((i) => `#EXTINF:1.0,\nfat${n + i}.ts`).join('\n')}\n`,
        );
      }
      if (req.url?.startsWith('/fat')) {
        fatBytes += 512 * 1024;
        return void res.end(Buffer.alloc(512 * 1024));
      }
      res.writeHead(404).end(); // segments: not the point here
    });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  });

  afterAll(() => origin?.close());

  it('refuses oversized manifests as manifest-too-large, parses big playlists off the loop; ticks keep their cadence', async () => {
    const prober = new StreamProber({ logger, segmentFetch: 'none' });
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    // the agent's heartbeat runs on a timer like this one, on this loop (every 5 s by default; 1 s here to
    // see more of them in an 8 s run)
    const TICK_MS = 1000;
    let worstGapMs = 0;
    let ticks = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
      ticks++;
    }, TICK_MS);
    try {
      const run = (path: string, protocol: 'hls' | 'dash') =>
        prober.run(
          {
            target: { id: path.slice(1, 5), url: `${base}${path}`, protocol },
            mode: 'check',
            durationS: 8,
            expectations: {},
          },
          { signal: new AbortController().signal, logger },
        );
      const [many, million, huge, long, wide] = await Promise.all([
        run('/many.mpd', 'dash'),
        run('/million.mpd', 'dash'),
        run('/huge.m3u8', 'hls'),
        run('/long.m3u8', 'hls'),
        run('/wide.m3u8', 'hls'),
      ]);
      // the wide master: followed up to the per-run budget of renditions, the rest refused and said so
      expect(wide.errors.find((e) => e.type === 'manifest-too-large')?.details).toMatch(/5000 renditions/);
      expect(wideMedia.size).toBeGreaterThan(0);
      expect(wideMedia.size).toBeLessThanOrEqual(100);
      for (const r of [many, million, huge]) {
        expect(r.errors.some((e) => e.type === 'manifest-too-large')).toBe(true);
        expect(r.outcome).not.toBe('ok');
      }
      expect(many.errors.find((e) => e.type === 'manifest-too-large')?.details).toMatch(
        /5000 Representations/,
      );
      expect(huge.errors.find((e) => e.type === 'manifest-too-large')?.details).toMatch(
        /segments \(> 20000\)/,
      );
      // the long playlist was followed (reloaded, parsed, checked) and its parses left the loop
      expect(longReloads).toBeGreaterThanOrEqual(2);
      expect(long.outcome).toBe('ok');
      expect(prober.stats().parsedOffLoop).toBeGreaterThanOrEqual(longReloads);
      console.log(
        JSON.stringify({
          longReloads,
          worstTickGapMs: Math.round(worstGapMs),
          loopDelayMaxMs: Math.round(lag.max / 1e6),
          loopDelayP99Ms: Math.round(lag.percentile(99) / 1e6),
        }),
      );
      // Cadence, not speed: no tick came more than one interval late (a stall of a parse on the loop, 100+ ms
      // per reload of 4 MiB, stacks up across five runs; a 5 s heartbeat would still go out). The loop-delay
      // figures are printed above rather than asserted: on a shared 2-core machine a GC pause or another
      // process can take the CPU for longer than any bound that would mean something.
      expect(ticks).toBeGreaterThanOrEqual(4);
      expect(worstGapMs).toBeLessThan(2 * TICK_MS);
      // The 4 MiB playlist and the 5000-Representation MPD went to the worker, not the loop.
      expect(prober.stats().parsedOffLoop).toBeGreaterThanOrEqual(longReloads + 2);
    } finally {
      clearInterval(ticker);
      lag.disable();
      await prober.close();
    }
  }, 60_000);

  it('stops fetching once a run has downloaded its byte budget', async () => {
    const prober = new StreamProber({ logger, segmentFetch: 'all', maxSessionBytes: 2 * 1024 * 1024 });
    try {
      const r = await prober.run(
        {
          target: { id: 'fat', url: `${base}/fat.m3u8`, protocol: 'hls' },
          mode: 'check',
          durationS: 8,
          expectations: {},
        },
        { signal: new AbortController().signal, logger },
      );
      expect(r.errors.find((e) => e.type === 'budget-exceeded')?.details).toMatch(/over 2 MiB/);
      // the budget, plus what was already in flight when it ran out. Playlists count toward the budget
      // too, so four 512 KiB segments plus a playlist already exceed it: the origin may have served exactly
      // 2 MiB of segments and no more.
      expect(fatBytes).toBeLessThanOrEqual(2 * 1024 * 1024 + 8 * 512 * 1024);
      expect(fatBytes).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    } finally {
      await prober.close();
    }
  });
});

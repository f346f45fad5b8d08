import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveTime } from '../controller/timeservice.js';
import { startInjector } from '../injector/index.js';
import { InjectOptions } from '../injector/options.js';
import {
  type Proc,
  playlistEntries,
  readStrips,
  serveDir,
  startCamera,
  startPackager,
  startUdpRelay,
} from '../injector/rehearsal.js';
import { BrowserProber } from '../probes/browser/index.js';
import type { ProbeJob } from '../probes/types.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { InjectorHeartbeat, ProbeResult } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { waitFor } from './helpers/fleet.js';
import { freePort, startNats, tempDir } from './helpers/procs.js';

/**
 * The rehearsal chain from real tools: synthetic camera (ffmpeg) -> injector -> [inserted delay] -> packager
 * (ffmpeg HLS muxer, stream copy) -> HTTP on 127.0.0.1 -> browser probe (Chromium). Over UDP MPEG-TS with a
 * relay holding every datagram a known time, and over SRT whose receiver latency is the known delay.
 *
 * What "agrees" means, from two measurements this test makes itself beside the probe:
 * - availability latency: when a segment appears in the packager's playlist minus the stamp of its last frame
 *   (absolute, no player): the inserted delay plus the chain's own latency (injector, transport, segment close);
 *   it must hold the inserted delay and little more;
 * - stamp-to-PDT K: a segment's PROGRAM-DATE-TIME minus the stamp of its first frame (ffmpeg anchors PDT when
 *   its muxer starts, so K has an arbitrary per-run offset; it carries the delay like everything upstream).
 * The probe's glass-to-glass (display - stamp) must equal its own PDT latency (display - PDT, the player's part)
 * plus K, within 50 ms.
 */
const logger = createLogger('inject-e2e', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');
const W = 640;
const H = 360;
const ID = 4242;

let nats: Awaited<ReturnType<typeof startNats>>;
let prober: BrowserProber;
const heartbeats: InjectorHeartbeat[] = [];
let stopSide: (() => Promise<void>) | undefined;

beforeAll(async () => {
  nats = await startNats();
  // The controller's time service (the fleet's reference clock) and a listener for injector heartbeats.
  const nc = await connect({ servers: nats.url });
  const n = names('liveprobe');
  const timeSub = serveTime(nc, n);
  const hbSub = nc.subscribe(n.injectorsAll, {
    callback: (_e, m) => heartbeats.push(InjectorHeartbeat.parse(decodeJson(m.data))),
  });
  stopSide = async () => {
    timeSub.unsubscribe();
    hbSub.unsubscribe();
    await nc.drain();
  };
  prober = new BrowserProber({ logger });
});

afterAll(async () => {
  await prober?.close();
  await stopSide?.();
  await nats?.stop();
});

const config = () => loadConfig({ env: {}, overrides: { 'nats.url': nats.url } });

const job = (url: string): ProbeJob => ({
  target: { id: 'inject-e2e', url, protocol: 'hls' },
  durationS: 12,
  mode: 'check',
  expectations: {},
});

/** Stamp-to-PDT latency of the packager's output: PDT of a segment minus the stamp of its first frame. */
async function stampToPdt(dir: string): Promise<number> {
  const entries = playlistEntries(await readFile(join(dir, 'index.m3u8'), 'utf8')).filter((e) => e.pdt);
  const ks: number[] = [];
  for (const e of entries.slice(-4, -1)) {
    const [s] = await readStrips(join(dir, e.uri), W, H, 1);
    if (s && e.pdt !== undefined) ks.push(e.pdt - s.capture);
  }
  expect(ks.length).toBeGreaterThan(0);
  ks.sort((a, b) => a - b);
  return ks[Math.floor(ks.length / 2)] as number;
}

async function waitForSegments(dir: string, n: number): Promise<void> {
  await waitFor(
    `${n} segments in ${dir}`,
    async () => {
      try {
        return playlistEntries(await readFile(join(dir, 'index.m3u8'), 'utf8')).length >= n;
      } catch {
        return false;
      }
    },
    60_000,
    250,
  );
}

/** Records when each segment first appears in the packager's playlist (polled every 40 ms). */
function watchAvailability(dir: string): { seen: Map<string, number>; stop(): void } {
  const seen = new Map<string, number>();
  const timer = setInterval(() => {
    readFile(join(dir, 'index.m3u8'), 'utf8')
      .then((text) => {
        const now = Date.now();
        for (const e of playlistEntries(text)) if (!seen.has(e.uri)) seen.set(e.uri, now);
      })
      .catch(() => undefined);
  }, 40);
  return { seen, stop: () => clearInterval(timer) };
}

/** Availability latency: a segment's appearance minus the stamp of its last frame (median of up to 3). */
async function availabilityLatency(dir: string, seen: Map<string, number>): Promise<number> {
  // Skip the first segments seen (already there when polling began) and the newest (may be deleted soon).
  const uris = [...seen.keys()].slice(2, -1).slice(-3);
  const ls: number[] = [];
  for (const uri of uris) {
    const reads = (await readStrips(join(dir, uri), W, H, 1000)).filter((r) => r !== null);
    const last = reads[reads.length - 1];
    const at = seen.get(uri);
    if (last && at !== undefined) ls.push(at - last.capture);
  }
  expect(ls.length).toBeGreaterThan(0);
  ls.sort((a, b) => a - b);
  return ls[Math.floor(ls.length / 2)] as number;
}

/** Plays the packager's stream and checks the g2g against PDT latency + measured stamp-to-PDT latency. */
async function probeAndCompare(dir: string, url: string, insertedMs: number) {
  const avail = watchAvailability(dir);
  const r = await prober.run(job(url), { signal: new AbortController().signal, logger });
  avail.stop();
  ProbeResult.parse(r);
  const k = await stampToPdt(dir);
  const a = await availabilityLatency(dir, avail.seen);
  const m = r.metrics;
  console.log(
    JSON.stringify({
      outcome: r.outcome,
      g2g_method: r.g2g_method,
      injector: r.g2g_injector_id,
      strip: r.g2g_strip,
      g2g_p50: m.g2g_p50_ms,
      pdt_p50: m.pdt_latency_p50_ms,
      stamp_to_pdt: k,
      inserted: insertedMs,
      availability: a,
      chain_own: a - insertedMs,
    }),
  );
  expect(r.outcome).toBe('ok');
  expect(r.g2g_method).toBe('stamp');
  expect(r.latency_method).toBe('stamp');
  expect(r.g2g_injector_id).toBe(ID);
  expect(r.g2g_strip).toBe('bottom-left@0.5');
  expect(m.g2g_p50_ms).toBeTypeOf('number');
  expect(m.pdt_latency_p50_ms).toBeTypeOf('number');
  // The inserted delay sits between the stamp and the packager, and the chain adds little else before it:
  // the injector, the transport and the wait for the next keyframe to close a segment (one frame).
  expect(a).toBeGreaterThanOrEqual(insertedMs);
  expect(a).toBeLessThanOrEqual(insertedMs + 600);
  // g2g = the chain's measured stamp-to-PDT latency (delay included) + the player's part (PDT latency).
  const expected = k + (m.pdt_latency_p50_ms as number);
  expect(Math.abs((m.g2g_p50_ms as number) - expected)).toBeLessThanOrEqual(50);
  return r;
}

describe('rehearsal chain: camera -> injector -> packager -> browser probe', () => {
  it('over UDP MPEG-TS with 500 ms held by a relay: g2g agrees, the injector reports itself', async () => {
    const dir = tempDir('inject-udp');
    const [camPort, relayPort, pkgPort] = [await freePort(), await freePort(), await freePort()];
    const procs: Proc[] = [];
    const relay = await startUdpRelay(relayPort, pkgPort, 500);
    const packager = startPackager(
      `udp://127.0.0.1:${pkgPort}?fifo_size=1000000&overrun_nonfatal=1`,
      dir.path,
    );
    procs.push(packager);
    const running = await startInjector({
      options: InjectOptions.parse({
        in: `udp://127.0.0.1:${camPort}?fifo_size=1000000&overrun_nonfatal=1`,
        out: `udp://127.0.0.1:${relayPort}?pkt_size=1316`,
        id: ID,
        name: 'e2e-udp',
        site: 'lab',
        heartbeatS: 1,
        metricsPort: 0,
        videoBitrate: 1_500_000,
        gop: 30,
      }),
      config: config(),
      logger,
    });
    const http = await serveDir(dir.path);
    try {
      procs.push(
        startCamera(`udp://127.0.0.1:${camPort}?pkt_size=1316`, {
          width: W,
          height: H,
          fps: 30,
          bitrate: 1_500_000,
        }),
      );
      await waitForSegments(dir.path, 4);
      await probeAndCompare(dir.path, `${http.url}/index.m3u8`, 500);

      const hb = await waitFor('a painting heartbeat', () =>
        heartbeats.find(
          (h) => h.id === ID && h.mode === 'paint' && h.framesPainted > 0 && h.addedDelayMs !== undefined,
        ),
      );
      expect(hb.name).toBe('e2e-udp');
      expect(hb.site).toBe('lab');
      expect(hb.clockSource).toBe('controller');
      expect(hb.clockOffsetMs).toBeTypeOf('number');
      expect(hb.placement).toBe('bottom-left@0.5');
      expect(hb.framesPassed).toBe(0);

      const metrics = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
      const painted = /liveprobe_injector_frames_painted\{injector="4242",name="e2e-udp"\} (\d+)/.exec(
        metrics,
      );
      expect(Number(painted?.[1])).toBeGreaterThan(0);
      expect(metrics).toContain('liveprobe_injector_painting{injector="4242",name="e2e-udp"} 1');
    } finally {
      await running.stop();
      for (const p of procs) await p.stop();
      await relay.close();
      await http.close();
      dir.remove();
    }
  });

  it('over SRT (receiver latency 400 ms): g2g agrees; the packager killed and restarted, the injector carries on', async () => {
    const dir = tempDir('inject-srt');
    const [camPort, srtPort] = [await freePort(), await freePort()];
    const procs: Proc[] = [];
    // SRT latency is in microseconds; the receiver holds every packet that long (TSBPD).
    const srtIn = `srt://127.0.0.1:${srtPort}?mode=listener&latency=400000`;
    let packager = startPackager(srtIn, dir.path);
    const running = await startInjector({
      options: InjectOptions.parse({
        in: `udp://127.0.0.1:${camPort}?fifo_size=1000000&overrun_nonfatal=1`,
        out: `srt://127.0.0.1:${srtPort}?mode=caller&latency=400000`,
        id: ID,
        name: 'e2e-srt',
        heartbeatS: 1,
        videoBitrate: 1_500_000,
        gop: 30,
      }),
      config: config(),
      logger,
    });
    const http = await serveDir(dir.path);
    try {
      procs.push(
        startCamera(`udp://127.0.0.1:${camPort}?pkt_size=1316`, {
          width: W,
          height: H,
          fps: 30,
          bitrate: 1_500_000,
        }),
      );
      await waitForSegments(dir.path, 4);
      await probeAndCompare(dir.path, `${http.url}/index.m3u8`, 400);

      // Kill the packager: the injector's SRT output breaks; the injector replaces its run and keeps trying.
      const exited = new Promise((resolve) => running.injector.once('exit', resolve));
      await packager.stop('SIGKILL');
      await exited;
      const before = running.injector.stats();
      expect(before.restarts).toBeGreaterThanOrEqual(0);
      // Restart the packager into a fresh directory: painted frames flow again.
      const dir2 = tempDir('inject-srt2');
      packager = startPackager(srtIn, dir2.path);
      try {
        await waitForSegments(dir2.path, 2);
        const entries = playlistEntries(await readFile(join(dir2.path, 'index.m3u8'), 'utf8'));
        const [s] = await readStrips(join(dir2.path, entries[entries.length - 1]?.uri ?? ''), W, H, 1);
        expect(s?.id).toBe(ID);
        expect(running.injector.stats().restarts).toBeGreaterThan(before.restarts);
        expect(running.injector.mode).toBe('paint');
      } finally {
        await packager.stop();
        dir2.remove();
      }
    } finally {
      await running.stop();
      for (const p of procs) await p.stop();
      await packager.stop();
      await http.close();
      dir.remove();
    }
  });

  it('a stream with no strip: the probe says so and reports no glass-to-glass', async () => {
    const dir = tempDir('inject-none');
    const camPort = await freePort();
    const packager = startPackager(
      `udp://127.0.0.1:${camPort}?fifo_size=1000000&overrun_nonfatal=1`,
      dir.path,
    );
    const camera = startCamera(`udp://127.0.0.1:${camPort}?pkt_size=1316`, {
      width: W,
      height: H,
      fps: 30,
      bitrate: 1_000_000,
    });
    const http = await serveDir(dir.path);
    try {
      await waitForSegments(dir.path, 3);
      const r = await prober.run(
        { ...job(`${http.url}/index.m3u8`), durationS: 8 },
        { signal: new AbortController().signal, logger },
      );
      ProbeResult.parse(r);
      expect(r.outcome).toBe('ok');
      expect(r.g2g_method).toBe('none');
      expect(r.g2g_injector_id).toBeUndefined();
      expect(r.metrics.g2g_p50_ms).toBeUndefined();
      expect(r.latency_method).toBe('pdt');
    } finally {
      await camera.stop();
      await packager.stop();
      await http.close();
      dir.remove();
    }
  });
});

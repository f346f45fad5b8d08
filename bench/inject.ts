/**
 * bench:inject — what the clock-strip injector costs on this machine.
 *
 * For a 1080p30 and a 720p60 contribution feed (pre-encoded clips, looped at their own rate by a copy-only
 * ffmpeg so the camera costs nothing), one ffmpeg tee sends the same MPEG-TS packets to the bench (direct) and
 * to the injector, whose output comes back to the bench. Measured per feed:
 * - added delay: when a video frame (PES with a given PTS) is usable by a demuxer downstream of the injector
 *   minus when it is usable direct (its PES delimited: by the next frame's first packet direct, on arrival
 *   from the injector, which writes PES lengths);
 * - CPU of the injector's ffmpeg processes (utime+stime from /proc over the window), % of one core; with
 *   the Node painter also its share of this (the bench's) process: the bench process's CPU over the window
 *   minus the same with the ffmpeg painter on the same feed (what the taps cost);
 * Both painters (BENCH_INJECT_PAINTERS, default "ffmpeg,node") run one after the other on each feed, so the
 * comparison sees the same machine load.
 * - decode success after a 3-rung ladder (1080p 4.5 Mbit/s, 720p 2.5 Mbit/s, 360p 300 kbit/s, x264): the
 *   recorded output is transcoded offline and every frame of every rung is searched for the strip.
 * Last line: added_delay_ms=<p50 worst feed> cpu_pct_1080p30=<n> decode_ok_pct=<worst rung>.
 */

import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../cli/ports.js';
import { startInjector } from '../injector/index.js';
import { InjectOptions } from '../injector/options.js';
import { DEFAULT_PAINTER, PAINTERS, type Painter } from '../injector/painters.js';
import { readStrips, spawnFfmpeg } from '../injector/rehearsal.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { percentile, printTable } from './lib.js';

const logger = createLogger('bench-inject', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');
const WARMUP_S = Number(process.env.BENCH_INJECT_WARMUP_S ?? 5);
const MEASURE_S = Number(process.env.BENCH_INJECT_MEASURE_S ?? 15);
const ID = 777;

interface Feed {
  name: string;
  width: number;
  height: number;
  fps: number;
  bitrate: number;
}
const FEEDS: Feed[] = [
  { name: '1080p30', width: 1920, height: 1080, fps: 30, bitrate: 6_000_000 },
  { name: '720p60', width: 1280, height: 720, fps: 60, bitrate: 5_000_000 },
];
const LADDER = [
  { name: '1080p', width: 1920, height: 1080, bitrate: 4_500_000 },
  { name: '720p', width: 1280, height: 720, bitrate: 2_500_000 },
  { name: '360p', width: 640, height: 360, bitrate: 300_000 },
];

async function run(cmd: string[]): Promise<void> {
  const p = spawnFfmpeg(cmd);
  const code = await new Promise<number | null>((resolve) => p.child.once('close', resolve));
  if (code !== 0) throw new Error(`ffmpeg ${cmd.slice(0, 6).join(' ')}... failed: ${p.stderr()}`);
}

/** A 10 s contribution clip (testsrc2 + tone, x264 without B-frames, AAC), made once and cached. */
async function clip(f: Feed): Promise<string> {
  const path = join(tmpdir(), `liveprobe-bench-inject-${f.name}.ts`);
  if (existsSync(path)) return path;
  await run([
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${f.width}x${f.height}:r=${f.fps}`,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '10',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-b:v',
    String(f.bitrate),
    '-g',
    String(f.fps),
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-f',
    'mpegts',
    '-y',
    path,
  ]);
  return path;
}

/** PTS (90 kHz) of a TS packet that starts a video PES on PID 0x100 (ffmpeg's first stream), else undefined. */
export function videoPesPts(p: Buffer, o: number): number | undefined {
  if (p[o] !== 0x47) return undefined;
  const pid = ((p[o + 1]! & 0x1f) << 8) | p[o + 2]!;
  if (pid !== 0x100 || (p[o + 1]! & 0x40) === 0) return undefined;
  const afc = (p[o + 3]! >> 4) & 3;
  let i = o + 4;
  if (afc & 2) i += 1 + p[o + 4]!;
  if (!(afc & 1) || i + 14 > o + 188) return undefined;
  if (p[i] !== 0 || p[i + 1] !== 0 || p[i + 2] !== 1 || (p[i + 7]! & 0x80) === 0) return undefined;
  const b = (k: number) => p[i + 9 + k]!;
  return ((b(0) >> 1) & 7) * 2 ** 30 + b(1) * 2 ** 22 + (b(2) >> 1) * 2 ** 15 + b(3) * 2 ** 7 + (b(4) >> 1);
}

/** A UDP socket recording the arrival (performance.now) of each video PES by PTS; optionally keeping bytes. */
async function tap(
  port: number,
  keep: boolean,
): Promise<{ at: Map<number, number>; bytes: Buffer[]; sock: Socket }> {
  const sock = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  const at = new Map<number, number>();
  const bytes: Buffer[] = [];
  sock.on('message', (msg) => {
    const now = performance.now();
    for (let o = 0; o + 188 <= msg.length; o += 188) {
      const pts = videoPesPts(msg, o);
      if (pts !== undefined && !at.has(pts)) at.set(pts, now);
    }
    if (keep) bytes.push(msg);
  });
  await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', resolve));
  return { at, bytes, sock };
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15 of stat)
}
const TICKS_PER_S = 100;

async function benchFeed(f: Feed, painter: Painter) {
  const input = await clip(f);
  const [directPort, injInPort, outPort] = [
    await freeLoopbackPort(),
    await freeLoopbackPort(),
    await freeLoopbackPort(),
  ];
  const direct = await tap(directPort, false);
  const out = await tap(outPort, true);
  const config = loadConfig({ env: {} });
  const running = await startInjector({
    options: InjectOptions.parse({
      in: `udp://127.0.0.1:${injInPort}?fifo_size=1000000&overrun_nonfatal=1&buffer_size=8388608`,
      out: `udp://127.0.0.1:${outPort}?pkt_size=1316`,
      id: ID,
      nats: false,
      videoBitrate: f.bitrate,
      gop: f.fps,
      painter,
      passthrough: process.env.BENCH_INJECT_PASSTHROUGH === '1',
      ...(process.env.BENCH_INJECT_PRESET ? { preset: process.env.BENCH_INJECT_PRESET } : {}),
    }),
    config,
    logger,
  });
  // Each painted frame's stamp by PTS: splits the delay into input->stamp (demux, decode) and the rest.
  const stampAt = new Map<number, number>();
  running.injector.on('stamp', (e: { pts: number; stamp: number }) =>
    stampAt.set(e.pts % 2 ** 33, e.stamp - performance.timeOrigin),
  );
  const source = spawnFfmpeg([
    '-loglevel',
    'error',
    '-re',
    '-stream_loop',
    '-1',
    '-i',
    input,
    '-map',
    '0',
    '-c',
    'copy',
    '-f',
    'tee',
    `[f=mpegts]udp://127.0.0.1:${directPort}?pkt_size=1316|[f=mpegts]udp://127.0.0.1:${injInPort}?pkt_size=1316`,
  ]);
  try {
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const pids = running.injector.pids();
    if (pids.length === 0)
      throw new Error(`injector not running after warm-up: ${JSON.stringify(running.injector.stats())}`);
    const t0 = performance.now();
    const c0 = pids.map(cpuTicks);
    const s0 = process.cpuUsage();
    const framesNow = () => running.injector.stats().framesPainted + running.injector.stats().framesPassed;
    const f0 = framesNow();
    out.bytes.length = 0;
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const c1 = pids.map(cpuTicks);
    const s1 = process.cpuUsage(s0);
    const framesDone = framesNow() - f0;
    const t1 = performance.now();
    const secs = (t1 - t0) / 1000;
    const cpuPct = (c1.reduce((a, c, i) => a + c - (c0[i] ?? 0), 0) / TICKS_PER_S / secs) * 100;
    const selfPct = ((s1.user + s1.system) / 1e6 / secs) * 100;
    const delays: number[] = [];
    const toStamp: number[] = [];
    // A demuxer can only hand on a direct frame (no PES length, as most encoders send it) once the next
    // frame's first packet arrives: that is when the frame is usable without the injector. The injector's
    // output carries PES lengths, so its frames are usable on arrival.
    const order = [...direct.at.entries()];
    const usable = new Map<number, number>();
    for (let i = 0; i + 1 < order.length; i++) usable.set(order[i]![0], order[i + 1]![1]);
    for (const [pts, tOut] of out.at) {
      const tIn = usable.get(pts);
      if (tIn !== undefined && tIn >= t0 && tIn <= t1) {
        delays.push(tOut - tIn);
        const s = stampAt.get(pts);
        if (s !== undefined) toStamp.push(s - tIn);
      }
    }
    delays.sort((a, b) => a - b);
    toStamp.sort((a, b) => a - b);
    const stats = running.injector.stats();
    const recorded = join(tmpdir(), `liveprobe-bench-inject-${f.name}-out.ts`);
    writeFileSync(recorded, Buffer.concat(out.bytes));
    return {
      feed: f,
      painter,
      cpuPct,
      selfPct,
      framesDone,
      secs,
      delayP50: percentile(delays, 0.5),
      delayP95: percentile(delays, 0.95),
      toStampP50: percentile(toStamp, 0.5),
      frames: delays.length,
      expected: Math.round(((t1 - t0) / 1000) * f.fps),
      restarts: stats.restarts,
      recorded,
    };
  } finally {
    await source.stop();
    await running.stop();
    direct.sock.close();
    out.sock.close();
  }
}

/** Transcodes the recorded output to the ladder (offline) and reads the strip on every frame of each rung. */
async function ladderDecode(recorded: string, feed: string) {
  const rows: Array<{ rung: string; frames: number; ok: number }> = [];
  for (const r of LADDER) {
    const path = join(tmpdir(), `liveprobe-bench-inject-${feed}-${r.name}.ts`);
    await run([
      '-loglevel',
      'error',
      '-i',
      recorded,
      '-map',
      '0:v:0',
      '-vf',
      `scale=${r.width}:${r.height}`,
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-b:v',
      String(r.bitrate),
      '-maxrate',
      String(r.bitrate),
      '-bufsize',
      String(r.bitrate * 2),
      '-f',
      'mpegts',
      '-y',
      path,
    ]);
    const reads = await readStrips(path, r.width, r.height, 100_000);
    rows.push({ rung: r.name, frames: reads.length, ok: reads.filter((x) => x?.id === ID).length });
  }
  return rows;
}

async function main() {
  const painters = (process.env.BENCH_INJECT_PAINTERS ?? 'ffmpeg,node')
    .split(',')
    .filter((p): p is Painter => (PAINTERS as readonly string[]).includes(p));
  const results: Array<Awaited<ReturnType<typeof benchFeed>> & { worstDecode: number; nodePct: number }> = [];
  const table: Record<string, string | number>[] = [];
  const only = process.env.BENCH_INJECT_FEEDS?.split(',');
  for (const f of FEEDS.filter((x) => !only || only.includes(x.name))) {
    // The bench process's own CPU with the ffmpeg painter: what the taps cost, subtracted from the Node
    // painter's figure (measured first when both run).
    let tapPct: number | undefined;
    for (const painter of [...painters].sort((a, b) => Number(b === 'ffmpeg') - Number(a === 'ffmpeg'))) {
      const r = await benchFeed(f, painter);
      if (painter === 'ffmpeg') tapPct = r.selfPct;
      const nodePct = painter === 'node' ? Math.max(0, r.selfPct - (tapPct ?? 0)) : 0;
      const ladder = await ladderDecode(r.recorded, `${f.name}-${painter}`);
      let worstDecode = 100;
      for (const l of ladder) {
        const pct = l.frames > 0 ? (l.ok / l.frames) * 100 : 0;
        worstDecode = Math.min(worstDecode, pct);
        table.push({
          feed: f.name,
          painter,
          'delay p50 ms': r.delayP50.toFixed(1),
          'delay p95 ms': r.delayP95.toFixed(1),
          'in->stamp p50 ms': r.toStampP50.toFixed(1),
          'frames matched': `${r.frames}/${r.expected}`,
          'cpu % core': (r.cpuPct + nodePct).toFixed(0),
          'of it Node': painter === 'node' ? nodePct.toFixed(0) : '-',
          // CPU per picture handled, scaled to the feed's rate: what the painter would take at real time
          // (under load the measured % is capped by what the machine gives, and frames fall behind).
          'cpu % at real time': (
            ((((r.cpuPct + nodePct) / 100) * r.secs * f.fps) / Math.max(1, r.framesDone)) *
            100
          ).toFixed(0),
          restarts: r.restarts,
          rung: l.rung,
          'decode ok': `${l.ok}/${l.frames} (${pct.toFixed(1)}%)`,
        });
      }
      results.push({ ...r, worstDecode, nodePct });
    }
  }
  printTable(table);
  const summary = (painter: Painter) => {
    const mine = results.filter((r) => r.painter === painter);
    const worstDelay = Math.max(...mine.map((r) => r.delayP50));
    const r1080 = mine.find((r) => r.feed.name === '1080p30');
    const cpu1080 = r1080 ? r1080.cpuPct + r1080.nodePct : Number.NaN;
    const decode = Math.min(...mine.map((r) => r.worstDecode));
    return `added_delay_ms=${worstDelay.toFixed(1)} cpu_pct_1080p30=${cpu1080.toFixed(0)} decode_ok_pct=${decode.toFixed(1)}`;
  };
  // One line per painter, then the default painter's figures again as the last line.
  for (const p of painters) process.stdout.write(`painter=${p} ${summary(p)}\n`);
  process.stdout.write(`${summary(painters.includes(DEFAULT_PAINTER) ? DEFAULT_PAINTER : painters[0]!)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench:inject failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startInjector } from '../injector/index.js';
import { InjectOptions } from '../injector/options.js';
import { readStrips } from '../injector/rehearsal.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { waitFor } from './helpers/fleet.js';
import { tempDir } from './helpers/procs.js';

/**
 * The injector must never take a feed off air: damaged input frames and a feed it cannot paint at all.
 * Inputs are short files looped at their own rate; outputs are files read back with ffmpeg.
 */
const logger = createLogger('inject-failures', process.env.LIVEPROBE_LOG_LEVEL ?? 'silent');
const config = loadConfig({ env: {} });

function makeClip(path: string, size: string, seconds: number): void {
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${size}:r=30`,
    '-f',
    'lavfi',
    '-i',
    'sine=sample_rate=48000',
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '30',
    '-c:a',
    'aac',
    '-f',
    'mpegts',
    '-y',
    path,
  ]);
  expect(r.status).toBe(0);
}

/** Overwrites the payload of every video TS packet (PID 0x100) in [from, to) with garbage. */
function damageVideo(path: string, fromPacket: number, toPacket: number): number {
  const buf = readFileSync(path);
  let damaged = 0;
  for (let i = fromPacket; i < toPacket && (i + 1) * 188 <= buf.length; i++) {
    const o = i * 188;
    const pid = ((buf[o + 1]! & 0x1f) << 8) | buf[o + 2]!;
    const payloadStart = (buf[o + 1]! & 0x40) !== 0;
    if (pid !== 0x100 || payloadStart) continue; // keep PES headers (timestamps) and other PIDs intact
    buf.fill(0xa7, o + 4, o + 188);
    damaged++;
  }
  writeFileSync(path, buf);
  return damaged;
}

/** Video packets (pts in seconds, byte position) of a TS file, in file order. */
function videoPackets(path: string): { pts: number; pos: number }[] {
  const r = spawnSync('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,pos', '-of', 'csv=p=0'],
    path,
  ]);
  return String(r.stdout)
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .map(([pts, pos]) => ({ pts: Number(pts), pos: Number(pos) }))
    .filter((p) => Number.isFinite(p.pts) && Number.isFinite(p.pos));
}

/** The first video stream's start time (s). */
function startTime(path: string): number {
  const r = spawnSync('ffprobe', [
    ...['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=start_time', '-of', 'csv=p=0'],
    path,
  ]);
  return Number(String(r.stdout).trim().split('\n')[0]);
}

function countVideoFrames(path: string): number {
  const r = spawnSync('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_packets',
    '-show_entries',
    'stream=nb_read_packets',
    '-of',
    'csv=p=0',
    path,
  ]);
  return Number(String(r.stdout).trim().split('\n')[0]);
}

describe('injector failure handling', () => {
  it('damaged input frames: the feed flows on with no restart; the frames painted over concealment are named', async () => {
    const dir = tempDir('inject-damage');
    const input = join(dir.path, 'in.ts');
    const output = join(dir.path, 'out.ts');
    makeClip(input, '640x360', 3);
    // the frames whose packets the damage hits (first pass: no loop offset on their timestamps)
    const packets = videoPackets(input);
    const hit = packets.filter(
      (p, i) => (packets[i + 1]?.pos ?? Number.POSITIVE_INFINITY) > 1500 * 188 && p.pos < 1700 * 188,
    );
    expect(hit.length).toBeGreaterThan(0);
    expect(damageVideo(input, 1500, 1700)).toBeGreaterThan(20);
    const running = await startInjector({
      options: InjectOptions.parse({
        in: input,
        out: output,
        id: 9,
        loop: true,
        nats: false,
        videoBitrate: 1_000_000,
        painter: 'ffmpeg',
      }),
      config,
      logger,
    });
    const concealed: { pts: number }[] = [];
    running.injector.on('concealed', (c: { pts: number }) => concealed.push(c));
    try {
      // Two passes over the damaged clip.
      await waitFor(
        'frames painted past the damage twice',
        () => running.injector.stats().framesPainted >= 180,
        60_000,
        200,
      );
      const s = running.injector.stats();
      expect(s.mode).toBe('paint');
      expect(s.restarts).toBe(0);
      expect(s.decodeErrors).toBeGreaterThan(0);
      expect(s.framesPassed).toBe(0);
      // ffmpeg 5.1 cannot leave one frame unpainted (no filter sees a frame's corrupt flag): the injector
      // names the frames it painted over concealment instead, and they are the damaged ones.
      expect(s.framesConcealed).toBeGreaterThanOrEqual(2);
      expect(s.framesConcealed).toBeLessThanOrEqual(s.decodeErrors);
      expect(running.heartbeat().framesConcealed).toBe(s.framesConcealed);
      const first = (concealed[0]?.pts ?? Number.NaN) / 90_000;
      const frame = 1 / 30;
      expect(first).toBeGreaterThanOrEqual((hit[0] as { pts: number }).pts - frame / 2);
      expect(first).toBeLessThanOrEqual((hit[hit.length - 1] as { pts: number }).pts + frame / 2);
    } finally {
      await running.stop();
    }
    const reads = await readStrips(output, 640, 360, 1000);
    expect(reads.length).toBeGreaterThanOrEqual(150);
    const painted = reads.filter((r) => r?.id === 9).length;
    // Concealed frames are painted too: the stamp is when they entered, whatever their picture.
    expect(painted / reads.length).toBeGreaterThanOrEqual(0.95);
    console.log(JSON.stringify({ concealed: concealed.length, damagedFrames: hit.map((h) => h.pts) }));
    dir.remove();
  });

  it('Node painter: a picture the decoder flags as corrupt goes on unpainted, its neighbours carry the strip', async () => {
    const dir = tempDir('inject-damage-node');
    const input = join(dir.path, 'in.ts');
    const output = join(dir.path, 'out.ts');
    makeClip(input, '640x360', 3);
    const packets = videoPackets(input);
    const hit = packets.filter(
      (p, i) => (packets[i + 1]?.pos ?? Number.POSITIVE_INFINITY) > 1500 * 188 && p.pos < 1700 * 188,
    );
    expect(damageVideo(input, 1500, 1700)).toBeGreaterThan(20);
    const running = await startInjector({
      options: InjectOptions.parse({
        in: input,
        out: output,
        id: 11,
        loop: true,
        nats: false,
        videoBitrate: 1_000_000,
        painter: 'node',
      }),
      config,
      logger,
    });
    // Every picture the injector handed to its encoder, in order: the output's pictures, one for one.
    const sent: boolean[] = [];
    const passed: { pts: number }[] = [];
    running.injector.on('stamp', () => sent.push(true));
    running.injector.on('concealed', (c: { pts: number }) => {
      sent.push(false);
      passed.push(c);
    });
    try {
      await waitFor(
        'frames past the damage',
        () => running.injector.stats().framesPainted + running.injector.stats().framesPassed >= 130,
        100_000,
        200,
      );
      const s = running.injector.stats();
      expect(s.mode).toBe('paint');
      expect(s.restarts).toBe(0);
      expect(s.framesPassed).toBeGreaterThanOrEqual(1);
      expect(s.framesConcealed).toBe(s.framesPassed);
      expect(running.heartbeat().framesPassed).toBe(s.framesPassed);
      const first = (passed[0]?.pts ?? Number.NaN) / 90_000;
      const frame = 1 / 30;
      expect(first).toBeGreaterThanOrEqual((hit[0] as { pts: number }).pts - frame / 2);
      expect(first).toBeLessThanOrEqual((hit[hit.length - 1] as { pts: number }).pts + frame / 2);
    } finally {
      await running.stop();
    }
    const reads = await readStrips(output, 640, 360, 1000);
    // The encoder may not flush its last pictures when stopped: compare what it wrote.
    expect(reads.length).toBeGreaterThanOrEqual(100);
    // Timestamps go through the Node painter untouched (the input's first video pts is the output's).
    expect(startTime(output)).toBeCloseTo(startTime(input), 3);
    const unpainted = sent.flatMap((painted, i) => (!painted && i < reads.length ? [i] : []));
    expect(unpainted.length).toBeGreaterThanOrEqual(1);
    for (const i of unpainted) {
      expect(reads[i], `picture ${i} (flagged corrupt) carries no strip`).toBeNull();
      expect(reads[i - 1]?.id, `picture ${i - 1} before it carries the strip`).toBe(11);
      if (i + 1 < reads.length) expect(reads[i + 1]?.id, `picture ${i + 1} after it`).toBe(11);
    }
    const painted = reads.filter((r, i) => sent[i] && r?.id === 11).length;
    expect(painted / reads.filter((_, i) => sent[i]).length).toBeGreaterThanOrEqual(0.99);
    dir.remove();
  }, 150_000);

  it('a feed it cannot paint goes on unpainted with --passthrough-on-error, and the heartbeat says so', async () => {
    const dir = tempDir('inject-pass');
    const input = join(dir.path, 'in.ts');
    const output = join(dir.path, 'out.ts');
    // 16x16 pictures: smaller than the strip's 32x4 source, so the paint graph cannot be built.
    makeClip(input, '16x16', 3);
    const running = await startInjector({
      options: InjectOptions.parse({
        in: input,
        out: output,
        id: 10,
        loop: true,
        nats: false,
        passthroughOnError: true,
      }),
      config,
      logger,
    });
    try {
      await waitFor('passthrough frames', () => running.injector.stats().framesPassed >= 60, 60_000, 200);
      const hb = running.heartbeat();
      expect(hb.mode).toBe('passthrough');
      expect(hb.framesPainted).toBe(0);
      expect(hb.framesPassed).toBeGreaterThanOrEqual(60);
      expect(hb.addedDelayMs).toBeUndefined();
    } finally {
      await running.stop();
    }
    expect(countVideoFrames(output)).toBeGreaterThanOrEqual(60);
    dir.remove();
  });
});

/**
 * The parts of a rehearsal chain made from real tools, for tests, the bench and an operator's dry run:
 * a synthetic camera (ffmpeg testsrc2 + tone, H.264/AAC in MPEG-TS), a UDP relay that holds every datagram
 * a known time (an inserted delay), a packager (ffmpeg's HLS muxer, stream copy) and a static HTTP server
 * for its output. Every process is started and stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { readStripFromLuma, type StripRead } from '../shared/clock.js';

export interface Proc {
  child: ChildProcess;
  /** Last lines of stderr (for failure messages). */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnFfmpeg(args: string[], ffmpegPath = 'ffmpeg'): Proc {
  const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-4000);
  });
  return {
    child,
    stderr: () => tail,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, signal);
      const t = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid)
          process.kill(child.pid, 'SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface CameraOptions {
  width: number;
  height: number;
  fps: number;
  bitrate: number;
  /** GOP in frames (default 1 s). */
  gop?: number;
  preset?: string;
}

/** A live synthetic camera + contribution encoder: testsrc2 and a tone, H.264 (no B-frames) + AAC, MPEG-TS. */
export function startCamera(url: string, c: CameraOptions): Proc {
  const format = /^rtmps?:/.test(url) ? 'flv' : 'mpegts';
  return spawnFfmpeg([
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${c.width}x${c.height}:r=${c.fps}`,
    '-re',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-c:v',
    'libx264',
    '-preset',
    c.preset ?? 'ultrafast',
    '-tune',
    'zerolatency',
    '-b:v',
    String(c.bitrate),
    '-g',
    String(c.gop ?? c.fps),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '96k',
    '-f',
    format,
    url,
  ]);
}

/** Forwards UDP datagrams from 127.0.0.1:listenPort to 127.0.0.1:toPort, each held delayMs (changeable). */
export async function startUdpRelay(
  listenPort: number,
  toPort: number,
  delayMs: number,
): Promise<{ setDelay(ms: number): void; close(): Promise<void> }> {
  const sock = createSocket('udp4');
  let delay = delayMs;
  let closed = false;
  const out = createSocket('udp4');
  sock.on('message', (msg) => {
    const send = () => {
      if (!closed) out.send(msg, toPort, '127.0.0.1');
    };
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
  await new Promise<void>((resolve) => sock.bind(listenPort, '127.0.0.1', resolve));
  return {
    setDelay(ms) {
      delay = ms;
    },
    async close() {
      closed = true;
      await new Promise<void>((resolve) => sock.close(() => resolve()));
      await new Promise<void>((resolve) => out.close(() => resolve()));
    },
  };
}

/**
 * A packager: ffmpeg's HLS muxer over the feed, stream copy (no re-encode), 1 s segments with
 * PROGRAM-DATE-TIME, writing dir/index.m3u8.
 */
export function startPackager(input: string, dir: string): Proc {
  return spawnFfmpeg([
    '-loglevel',
    'error',
    '-fflags',
    'nobuffer',
    '-i',
    input,
    '-map',
    '0',
    '-c',
    'copy',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    '10',
    '-hls_flags',
    'delete_segments+program_date_time+temp_file+omit_endlist',
    '-hls_segment_filename',
    join(dir, 'seg_%05d.ts'),
    join(dir, 'index.m3u8'),
  ]);
}

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
};

/** Serves a packager's directory on 127.0.0.1 (any free port). */
export async function serveDir(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(dir, path);
    stat(file)
      .then((s) => {
        if (!s.isFile()) throw new Error('not a file');
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'content-length': s.size,
          'cache-control': 'no-cache',
          'access-control-allow-origin': '*',
        });
        createReadStream(file).pipe(res);
      })
      .catch(() => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Media playlist entries with their PROGRAM-DATE-TIME (epoch ms). */
export function playlistEntries(text: string): Array<{ uri: string; pdt?: number }> {
  const out: Array<{ uri: string; pdt?: number }> = [];
  let pdt: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line && !line.startsWith('#')) {
      out.push(pdt === undefined || Number.isNaN(pdt) ? { uri: line } : { uri: line, pdt });
      pdt = undefined;
    }
  }
  return out;
}

/** Decodes the first `frames` pictures of a media file (or URL) and reads the strip of each (null = none). */
export async function readStrips(
  input: string,
  width: number,
  height: number,
  frames = 1,
  ffmpegPath = 'ffmpeg',
): Promise<Array<StripRead | null>> {
  const child = spawn(
    ffmpegPath,
    [
      '-v',
      'error',
      '-i',
      input,
      '-frames:v',
      String(frames),
      '-s',
      `${width}x${height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'gray',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve) => child.once('close', () => resolve()));
  const all = Buffer.concat(chunks);
  const size = width * height;
  const out: Array<StripRead | null> = [];
  for (let o = 0; o + size <= all.length; o += size)
    out.push(readStripFromLuma(all.subarray(o, o + size), width, height));
  return out;
}

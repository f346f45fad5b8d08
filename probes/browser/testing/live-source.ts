import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import {
  CLOCK_BITS,
  CLOCK_COLS,
  CLOCK_ROWS,
  CLOCK_STRIP_HEIGHT,
  encodeClockBits,
} from '../../../shared/clock.js';

/**
 * Test fixture: a live ffmpeg HLS TS stream whose frames carry the in-frame capture clock, served over
 * loopback with CORS. Used by this folder's end-to-end tests only until testbed/ lands; it is deliberately
 * small (no supervision, no ladder).
 */
export interface LiveSource {
  /** Media playlist URL. */
  url: string;
  /** Base URL of the origin (for 404 tests etc.). */
  origin: string;
  /** Capture wall time of the first frame. */
  clockStart: number;
  stop(): Promise<void>;
}

const W = 640;
const H = 360;
const FPS = 30;
const SEGMENT_MS = 2000;

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
};

function paintStrip(frame: Buffer, ms: number): void {
  const bits = encodeClockBits(ms);
  const stripH = Math.round(CLOCK_STRIP_HEIGHT * H);
  const bw = W / CLOCK_COLS;
  const bh = stripH / CLOCK_ROWS;
  for (let i = 0; i < CLOCK_BITS; i++) {
    const col = i % CLOCK_COLS;
    const row = Math.floor(i / CLOCK_COLS);
    const v = bits[i] ? 255 : 0;
    const y0 = Math.round(row * bh);
    const y1 = Math.round((row + 1) * bh);
    const x0 = Math.round(col * bw);
    for (let y = y0; y < y1; y++) frame.fill(v, y * W + x0, y * W + Math.round((col + 1) * bw));
  }
}

/**
 * ffmpeg stamps PROGRAM-DATE-TIME from its wall clock when its muxer starts, which on a loaded machine can be
 * hundreds of ms after the first frame was captured. The fixture knows the true capture time of every
 * segment's first frame (frames are paced from clockStart, a keyframe every 2 s), so its origin writes the
 * exact PDT, like a packager fed by a timestamped source.
 */
function exactPdt(playlist: string, clockStart: number): string {
  const lines = playlist.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]?.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) continue;
    const uri = lines.slice(i + 1).find((l) => l && !l.startsWith('#'));
    const sn = Number(uri?.match(/index(\d+)\.ts$/)?.[1]);
    if (Number.isInteger(sn)) {
      lines[i] = `#EXT-X-PROGRAM-DATE-TIME:${new Date(clockStart + sn * SEGMENT_MS).toISOString()}`;
    }
  }
  return lines.join('\n');
}

export async function startLiveSource(opts: { clock?: boolean } = {}): Promise<LiveSource> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-live-'));
  const ff: ChildProcess = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error'],
      ...['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-framerate', String(FPS), '-i', '-'],
      ...['-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono'],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p'],
      ...['-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-b:v', '800k'],
      // -shortest: when our stdin closes (even if this process dies), ffmpeg stops instead of encoding the
      // endless silent audio as fast as it can.
      ...['-c:a', 'aac', '-b:a', '64k', '-shortest'],
      ...['-f', 'hls', '-hls_time', '2', '-hls_list_size', '6'],
      ...['-hls_flags', 'delete_segments+program_date_time', join(dir, 'index.m3u8')],
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  ff.stdin?.on('error', () => {});

  const frame = Buffer.alloc(W * H, 96);
  // The clock starts when ffmpeg has taken the first frame from the pipe: ffmpeg stamps PROGRAM-DATE-TIME
  // from its own wall clock when the muxer starts, so frames queued before it was reading would look older.
  await new Promise<void>((resolve) => ff.stdin?.write(Buffer.from(frame), () => resolve()));
  const start = Date.now();
  let n = 1;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = Date.now();
    while (start + (n * 1000) / FPS <= now) {
      const capture = Math.round(start + (n * 1000) / FPS);
      // A moving bar below the strip so the picture is not static.
      const barX = (n * 4) % W;
      frame.fill(96, Math.round(CLOCK_STRIP_HEIGHT * H) * W);
      for (let y = 200; y < 260; y++) frame.fill(200, y * W + barX, y * W + Math.min(W, barX + 40));
      if (opts.clock !== false) paintStrip(frame, capture);
      ff.stdin?.write(Buffer.from(frame));
      n++;
    }
    timer = setTimeout(tick, Math.max(1, start + (n * 1000) / FPS - Date.now()));
  };
  timer = setTimeout(tick, 0);

  const server: Server = createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^\/+/,
      '',
    );
    const file = join(dir, path);
    if (!file.startsWith(dir) || path.includes('..')) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (extname(file) === '.m3u8') {
        const body = exactPdt(readFileSync(file, 'utf8'), start);
        res.writeHead(200, { 'Content-Type': TYPES['.m3u8'] ?? '', 'Cache-Control': 'no-cache' });
        res.end(body);
        return;
      }
      const st = statSync(file);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': extname(file) === '.m3u8' ? 'no-cache' : 'max-age=60',
      });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  // Wait until the playlist has 3 segments, so players start on a window they can hold.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const text = await (await fetch(`${origin}/index.m3u8`)).text();
      if ((text.match(/#EXTINF/g) ?? []).length >= 3) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('live source: no playlist after 20 s');
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    url: `${origin}/index.m3u8`,
    origin,
    clockStart: start,
    async stop() {
      clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ff.exitCode === null && ff.signalCode === null && ff.pid !== undefined) {
        const exited = new Promise<void>((resolve) => ff.once('exit', () => resolve()));
        ff.stdin?.end();
        process.kill(ff.pid, 'SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

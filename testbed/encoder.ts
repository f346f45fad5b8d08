import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import type { Logger } from '../shared/log.js';
import { AUDIO_BITRATE, FULL_LADDER, type Ladder } from './layout.js';
import { AUDIO_RATE, type AudioPainter, type FramePainter, startPacer } from './source.js';

export interface EncoderConfig {
  /** Output root (absolute). */
  dir: string;
  ladder: Ladder;
  fps: number;
  width: number;
  height: number;
  segmentS: number;
  windowSize: number;
  /** Absolute URL of the origin's /time, for DASH UTCTiming. */
  timeUrl: string;
  /** Segments kept on disk after they leave the window (slow players, publish-delay, stale copies). */
  keepExtraSegments: number;
}

/**
 * Escapes a value for a tee slave option list ("[k=v:k2=v2]"): the list is unescaped twice (the slave spec,
 * then the option dictionary), so ':' inside a value needs a backslash inside single quotes.
 */
function teeValue(v: string): string {
  if (/['\\|[\]]/.test(v)) throw new Error(`unsupported character in tee option value: ${v}`);
  return /[:=, ]/.test(v) ? `'${v.replace(/:/g, '\\:')}'` : v;
}

function teeSlave(opts: Record<string, string | number>, target: string): string {
  const list = Object.entries(opts)
    .map(([k, v]) => `${k}=${teeValue(String(v))}`)
    .join(':');
  return `[${list}]${target}`;
}

/**
 * One ffmpeg encodes the ladder once (raw frames from stdin + raw audio from fd 3) and the tee muxer packages the
 * same encoded streams as HLS TS, HLS fMP4 and DASH, so packaging costs muxing only.
 */
export function buildFfmpegArgs(c: EncoderConfig): string[] {
  const gop = Math.round(c.fps * c.segmentS);
  const rungs = c.ladder === 'single' ? [FULL_LADDER[0]!] : FULL_LADDER;
  const args = [
    '-hide_banner',
    '-nostats',
    '-nostdin',
    '-loglevel',
    'warning',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'yuv420p',
    '-s',
    `${c.width}x${c.height}`,
    '-framerate',
    String(c.fps),
    '-thread_queue_size',
    '32',
    '-i',
    'pipe:0',
    // The audio comes from Node too (AudioPainter), paced with the frames: same media clock, and faults can
    // silence or shift it without restarting ffmpeg.
    '-f',
    's16le',
    '-ar',
    String(AUDIO_RATE),
    '-ac',
    '1',
    '-thread_queue_size',
    '64',
    '-i',
    'pipe:3',
  ];
  const scale = rungs.map((r, i) =>
    r.width === c.width && r.height === c.height
      ? `[v${i}]null[o${i}]`
      : `[v${i}]scale=${r.width}:${r.height}[o${i}]`,
  );
  args.push(
    '-filter_complex',
    `[0:v]setsar=1,split=${rungs.length}${rungs.map((_, i) => `[v${i}]`).join('')};${scale.join(';')}`,
  );
  for (let i = 0; i < rungs.length; i++) args.push('-map', `[o${i}]`);
  args.push('-map', '1:a');
  args.push(
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-pix_fmt',
    'yuv420p',
    '-g',
    String(gop),
    '-keyint_min',
    String(gop),
    '-sc_threshold',
    '0',
    '-threads',
    '1',
  );
  rungs.forEach((r, i) => {
    args.push(
      `-b:v:${i}`,
      String(r.bitrate),
      `-maxrate:v:${i}`,
      String(r.bitrate),
      `-bufsize:v:${i}`,
      String(r.bitrate),
    );
  });
  args.push(
    '-c:a',
    'aac',
    '-b:a',
    String(AUDIO_BITRATE),
    '-ac',
    '1',
    '-flags',
    '+global_header',
    '-shortest',
  );

  const hlsFlags =
    'delete_segments+program_date_time+temp_file+independent_segments+omit_endlist+append_list';
  const hlsCommon = {
    hls_time: c.segmentS,
    hls_list_size: c.windowSize,
    hls_delete_threshold: c.keepExtraSegments,
    hls_flags: hlsFlags,
    master_pl_name: 'master.m3u8',
  };
  const slaves: string[] = [];
  if (c.ladder === 'single') {
    const r = rungs[0]!;
    slaves.push(
      teeSlave(
        {
          f: 'hls',
          ...hlsCommon,
          var_stream_map: `v:0,a:0,name:${r.name}`,
          hls_segment_filename: `${c.dir}/hls-ts/%v/seg_%05d.ts`,
        },
        `${c.dir}/hls-ts/%v/index.m3u8`,
      ),
    );
  } else {
    const map = [
      ...rungs.map((r, i) => `v:${i},agroup:aud,name:${r.name}`),
      'a:0,agroup:aud,name:audio,default:yes',
    ].join(' ');
    slaves.push(
      teeSlave(
        {
          f: 'hls',
          ...hlsCommon,
          var_stream_map: map,
          hls_segment_filename: `${c.dir}/hls-ts/%v/seg_%05d.ts`,
        },
        `${c.dir}/hls-ts/%v/index.m3u8`,
      ),
      teeSlave(
        {
          f: 'hls',
          ...hlsCommon,
          hls_segment_type: 'fmp4',
          hls_fmp4_init_filename: 'init.mp4',
          var_stream_map: map,
          hls_segment_filename: `${c.dir}/hls-fmp4/%v/seg_%05d.m4s`,
        },
        `${c.dir}/hls-fmp4/%v/index.m3u8`,
      ),
      teeSlave(
        {
          f: 'dash',
          seg_duration: c.segmentS,
          window_size: c.windowSize,
          extra_window_size: c.keepExtraSegments,
          use_template: 1,
          use_timeline: 0,
          update_period: c.segmentS,
          // streaming + write_prft puts ProducerReferenceTime in the MPD and prft boxes; one fragment per
          // segment keeps availabilityTimeOffset at 0 (no advertising of segments still being written).
          streaming: 1,
          frag_type: 'duration',
          frag_duration: c.segmentS,
          write_prft: 1,
          adaptation_sets: 'id=0,streams=v id=1,streams=a',
          utc_timing_url: c.timeUrl,
        },
        `${c.dir}/dash/manifest.mpd`,
      ),
    );
  }
  args.push('-f', 'tee', slaves.join('|'));
  return args;
}

export interface EncoderOptions {
  args: string[];
  fps: number;
  painter: FramePainter;
  /** The audio for each frame, written to ffmpeg's fd 3 (the args read it as `-i pipe:3`). */
  audio: AudioPainter;
  logger: Logger;
  ffmpegPath?: string;
  /** First restart delay; doubles per quick failure up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Consecutive quick failures (exit within 20 s of start) before giving up. */
  maxQuickFailures?: number;
  /** Called synchronously when a new ffmpeg run starts, before its first frame. */
  onRun?(): void;
  onFrame?(n: number, stampMs: number): void;
  /** Called when the frame pacer fell > 1 s behind and re-anchored (the source itself stalled). */
  onReanchor?(lagMs: number): void;
}

/**
 * ffmpeg as a supervised child: it is fed paced frames on stdin, restarted with bounded exponential backoff
 * when it dies, and killed by PID (stdin closed first) on stop. If Node dies, stdin reaches EOF and
 * `-shortest` ends ffmpeg, so no orphan keeps running.
 *
 * Events: 'spawn' (pid), 'exit' ({pid, code, signal}), 'gave-up' (error).
 */
export class Encoder extends EventEmitter {
  private child: ChildProcess | undefined;
  private pacer: { stop(): void } | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private quickFailures = 0;
  private startedAt = 0;
  restarts = 0;
  gaveUp = false;

  constructor(private readonly opts: EncoderOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  start(): void {
    if (this.stopping) return;
    const { logger } = this.opts;
    const child = spawn(this.opts.ffmpegPath ?? 'ffmpeg', this.opts.args, {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.startedAt = Date.now();
    const stdin = child.stdin!;
    stdin.on('error', (err) => logger.debug({ err: err.message }, 'ffmpeg stdin closed'));
    const audioIn = child.stdio[3] as Writable;
    audioIn.on('error', (err) => logger.debug({ err: err.message }, 'ffmpeg audio pipe closed'));
    let tail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      const lines = (tail + d).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) logger.debug({ pid: child.pid }, `ffmpeg: ${line.trim()}`);
    });
    child.once('error', (err) => logger.error({ err: err.message }, 'ffmpeg failed to start'));
    child.once('spawn', () => {
      logger.debug({ pid: child.pid }, 'ffmpeg started');
      this.emit('spawn', child.pid);
    });
    this.opts.onRun?.();
    this.pacer = startPacer({
      ...(this.opts.onFrame ? { onFrame: this.opts.onFrame } : {}),
      fps: this.opts.fps,
      painter: this.opts.painter,
      write: (frame, n) => {
        if (!stdin.writable) return false;
        // Audio first: ffmpeg waits for both inputs, and the pair is dropped together when it lags.
        if (audioIn.writable) audioIn.write(this.opts.audio.paint(n));
        return stdin.write(frame);
      },
      queued: () => stdin.writableLength,
      onLag: (lagMs) => {
        logger.warn({ lagMs: Math.round(lagMs) }, 'frame pacer fell behind; re-anchored');
        this.opts.onReanchor?.(lagMs);
      },
    });
    child.once('close', (code, signal) => {
      this.pacer?.stop();
      this.pacer = undefined;
      const pid = child.pid;
      this.emit('exit', { pid, code, signal });
      if (this.stopping) return;
      const ranMs = Date.now() - this.startedAt;
      this.quickFailures = ranMs < 20_000 ? this.quickFailures + 1 : 0;
      const max = this.opts.maxQuickFailures ?? 8;
      if (this.quickFailures > max) {
        this.gaveUp = true;
        logger.error({ code, signal, failures: this.quickFailures }, 'ffmpeg keeps dying; giving up');
        this.emit(
          'gave-up',
          new Error(`ffmpeg exited ${code ?? signal} ${this.quickFailures} times in a row`),
        );
        return;
      }
      const base = this.opts.backoffMs ?? 500;
      const delay = Math.min(
        this.opts.maxBackoffMs ?? 10_000,
        base * 2 ** Math.max(0, this.quickFailures - 1),
      );
      logger.warn({ pid, code, signal, restartInMs: delay }, 'ffmpeg exited; restarting');
      this.restartTimer = setTimeout(() => {
        this.restarts++;
        this.start();
      }, delay);
    });
  }

  /** Closes stdin, kills by PID (SIGTERM, then SIGKILL after graceMs) and waits for the exit. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.pacer?.stop();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdin?.end();
    (child.stdio[3] as Writable | null)?.end();
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }
}

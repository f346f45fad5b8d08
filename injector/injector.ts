import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type Logger, redactUrlsIn } from '../shared/log.js';
import { type InjectArgs, paintArgs, passthroughArgs } from './args.js';
import { lines, type NodeFrame, NodePaintRun } from './node-paint.js';
import { DEFAULT_PAINTER, type Painter } from './painters.js';
import { MAX_OFFSET_DELTA_MS, OFFSET_BIAS, OFFSET_FILTER } from './strip-filter.js';

export type InjectorMode = 'starting' | 'paint' | 'passthrough' | 'down';

export interface InjectorOptions {
  args: InjectArgs;
  /** When painting fails, carry the feed on unpainted (stream copy) instead of leaving the output dark. */
  passthroughOnError: boolean;
  logger: Logger;
  /** Default DEFAULT_PAINTER. */
  painter?: Painter;
  ffmpegPath?: string;
  /** A run that has shown no new frame for this long is stuck (its input gone or its encoder wedged). */
  stallMs?: number;
  /** A run's first frame may take this long (input probing, waiting for a sender). */
  firstFrameMs?: number;
  /** After a painting failure, stay in passthrough this long before trying to paint again. */
  holdMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface InjectorStats {
  mode: InjectorMode;
  framesPainted: number;
  framesPassed: number;
  restarts: number;
  decodeErrors: number;
  /**
   * Pictures the decoder reported as damaged. Node painter: exactly the pictures it flagged corrupt, sent on
   * unpainted (also counted in framesPassed). ffmpeg painter: painted pictures the decoder's errors were
   * printed before (concealed pictures, painted anyway; see onStderr).
   */
  framesConcealed: number;
  pid?: number;
}

/** Delay samples kept (progress comes every 0.5 s: the last 10 s). */
const DELAY_WINDOW = 20;
/** The same ffmpeg message is logged at most once per this many ms (a broken feed repeats itself). */
const LOG_EVERY_MS = 10_000;

const DECODE_ERROR =
  /error while decoding|concealing|corrupt|Invalid NAL|non-existing PPS|decode_slice_header|no frame!|Invalid data/i;

/**
 * Supervises the ffmpeg that paints (or, after a failure with --passthrough-on-error, merely carries) the
 * feed. The Node process never touches a frame: ffmpeg reports progress on stdout and each frame's stamp on
 * stderr (geq's print), from which the injector counts frames and measures its own delay. Whatever ffmpeg
 * does, the supervisor keeps going: a dead run is replaced (paint, else passthrough, with backoff).
 *
 * Events: 'mode' (InjectorMode), 'run' ({pid, mode}), 'exit' ({pid, mode, code, signal}),
 * 'stamp' ({pts (90 kHz), stamp (epoch ms)}) per painted frame, 'concealed' ({pts, stamp, errors}) per
 * painted frame the decoder reported errors for.
 */
export class Injector extends EventEmitter {
  private child: ChildProcess | undefined;
  /** The painting run when Node paints (two ffmpeg processes); `child` is then undefined. */
  private nodeRun: NodePaintRun | undefined;
  private childMode: 'paint' | 'passthrough' = 'paint';
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private paintAgainAt = 0;
  private failures = 0;
  private modeNow: InjectorMode = 'starting';
  private framesPainted = 0;
  private framesPassed = 0;
  private restarts = 0;
  private decodeErrors = 0;
  private framesConcealed = 0;
  /** Decoder errors since the last painted frame's stamp: they belong to the next frame painted. */
  private errorsSinceStamp = 0;
  /** This run: frames reported so far, and when the count last moved. */
  private runFrames = 0;
  private lastProgressAt = 0;
  private runStartedAt = 0;
  /** Stamps of this run's painted frames by frame index (pruned), from geq's print. */
  private readonly stamps = new Map<number, number>();
  private stampIndex = 0;
  private pendingPts: number | undefined;
  private delaySamples: number[] = [];
  private readonly logged = new Map<string, number>();
  /** Stamp correction wanted now (ms added to the host clock), the one baked into this run, and its delta. */
  private correctionMs: number;
  private runBaseMs = 0;
  private runDeltaMs = 0;

  constructor(private readonly opts: InjectorOptions) {
    super();
    this.correctionMs = opts.args.stampCorrectionMs;
  }

  /** The stamp correction frames get now: the baked one plus the delta last sent to ffmpeg. */
  get appliedCorrectionMs(): number {
    return this.runBaseMs + this.runDeltaMs;
  }

  /**
   * Moves the stamp correction (the clock offset, re-measured) without restarting ffmpeg: sent as a
   * filter command on the painting run's stdin, applied from the next frame on. A move of more than
   * MAX_OFFSET_DELTA_MS from the run's baked value is applied up to that bound (and in full by the next
   * run); returns the correction now applied.
   */
  setCorrection(ms: number): number {
    this.correctionMs = Math.round(ms);
    if (this.nodeRun?.alive) {
      // Node stamps each picture itself: the new correction holds from the next picture, in full.
      this.nodeRun.setCorrection(this.correctionMs);
      this.runBaseMs = this.correctionMs;
      this.runDeltaMs = 0;
      return this.appliedCorrectionMs;
    }
    const child = this.child;
    if (this.childMode !== 'paint' || !child?.stdin?.writable || child.exitCode !== null)
      return this.appliedCorrectionMs;
    const want = this.correctionMs - this.runBaseMs;
    const delta = Math.max(-MAX_OFFSET_DELTA_MS, Math.min(MAX_OFFSET_DELTA_MS, want));
    if (delta !== want)
      this.opts.logger.warn(
        { wantMs: this.correctionMs, appliedMs: this.runBaseMs + delta },
        'clock offset moved more than the running painter can follow; the next run applies it in full',
      );
    if (delta !== this.runDeltaMs) {
      // ffmpeg's keyboard interaction: 'c', then "<target> <time> <command> <arg>" (time -1: now).
      child.stdin.write(`c${OFFSET_FILTER} -1 y ${OFFSET_BIAS + delta}\n`);
      this.runDeltaMs = delta;
    }
    return this.appliedCorrectionMs;
  }

  get mode(): InjectorMode {
    return this.modeNow;
  }

  stats(): InjectorStats {
    const pid = this.nodeRun?.alive
      ? this.nodeRun.pid
      : this.child?.exitCode === null
        ? this.child.pid
        : undefined;
    return {
      mode: this.modeNow,
      framesPainted: this.framesPainted,
      framesPassed: this.framesPassed,
      restarts: this.restarts,
      decodeErrors: this.decodeErrors,
      framesConcealed: this.framesConcealed,
      ...(pid !== undefined ? { pid } : {}),
    };
  }

  /** PIDs of the running ffmpeg processes (two with the Node painter: decoder, encoder). */
  pids(): number[] {
    const run = this.nodeRun;
    if (run?.alive) return [run.decoder.pid, run.encoder.pid].filter((p): p is number => p !== undefined);
    const pid = this.child?.exitCode === null ? this.child.pid : undefined;
    return pid === undefined ? [] : [pid];
  }

  /** Median stamp-to-encoder delay over the latest samples (two a second); undefined unless painting. */
  delayMs(): number | undefined {
    if (this.modeNow !== 'paint' || this.delaySamples.length === 0) return undefined;
    const s = [...this.delaySamples].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  }

  /** Starts painting; `passthrough` only carries the feed (an A/B baseline of what painting adds). */
  start(mode: 'paint' | 'passthrough' = 'paint'): void {
    this.launch(mode);
  }

  private setMode(m: InjectorMode): void {
    if (m === this.modeNow) return;
    this.modeNow = m;
    this.opts.logger.info({ mode: m }, 'injector mode');
    this.emit('mode', m);
  }

  private launch(mode: 'paint' | 'passthrough'): void {
    if (this.stopping) return;
    if (mode === 'paint' && (this.opts.painter ?? DEFAULT_PAINTER) === 'node') {
      this.launchNode();
      return;
    }
    this.nodeRun = undefined;
    const { logger } = this.opts;
    // A new run bakes the latest correction into its filter (and starts with no delta).
    this.runBaseMs = this.correctionMs;
    this.runDeltaMs = 0;
    const a = { ...this.opts.args, stampCorrectionMs: this.correctionMs };
    const args = mode === 'paint' ? paintArgs(a) : passthroughArgs(a);
    const child = spawn(this.opts.ffmpegPath ?? 'ffmpeg', args, {
      stdio: [mode === 'paint' ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // ffmpeg gone while a command is being written: nothing to do (the run is replaced).
    child.stdin?.on('error', () => undefined);
    this.child = child;
    this.childMode = mode;
    this.resetRun();
    child.once('error', (err) => logger.error({ err: err.message }, 'ffmpeg failed to start'));
    child.once('spawn', () => {
      logger.info({ pid: child.pid, mode }, 'ffmpeg started');
      this.emit('run', { pid: child.pid, mode });
    });
    lines(child.stdout!, (line) => this.onProgress(line, mode));
    lines(child.stderr!, (line) => this.onStderr(line, child.pid));
    child.once('close', (code, signal) => {
      clearInterval(this.watchdog);
      this.emit('exit', { pid: child.pid, mode, code, signal });
      if (this.stopping) return;
      logger.warn({ pid: child.pid, mode, code, signal }, 'ffmpeg run ended');
      this.onRunEnded(mode);
    });
    this.watch(
      () => {
        logger.warn({ pid: child.pid, mode }, 'ffmpeg shows no new frame; replacing the run');
        kill(child);
      },
      () => {
        if (!(mode === 'passthrough' && this.paintAgainAt && Date.now() >= this.paintAgainAt)) return false;
        // Time to try painting again: end the passthrough run; onRunEnded starts the painter.
        logger.info('trying to paint again');
        this.failures = 0;
        kill(child);
        return true;
      },
    );
  }

  /**
   * Every 500 ms: a run with no first frame after `firstFrameMs`, or no new frame for `stallMs`, is stuck
   * (`onStuck`); `other` may end the run for its own reason (returns true when it did).
   */
  private watch(onStuck: () => void, other: () => boolean = () => false): void {
    const stallMs = this.opts.stallMs ?? 8000;
    const firstFrameMs = this.opts.firstFrameMs ?? 20_000;
    this.watchdog = setInterval(() => {
      const now = Date.now();
      const stuck =
        this.lastProgressAt === 0
          ? now - this.runStartedAt > firstFrameMs
          : now - this.lastProgressAt > stallMs;
      if (stuck) {
        clearInterval(this.watchdog);
        onStuck();
      } else if (other()) clearInterval(this.watchdog);
    }, 500);
  }

  /** Resets what a run measures (a new run counts its own frames and stamps). */
  private resetRun(): void {
    this.runFrames = 0;
    this.runStartedAt = Date.now();
    this.lastProgressAt = 0;
    this.stamps.clear();
    this.stampIndex = 0;
    this.pendingPts = undefined;
    this.errorsSinceStamp = 0;
    this.delaySamples = [];
  }

  private launchNode(): void {
    const { logger } = this.opts;
    this.runBaseMs = this.correctionMs;
    this.runDeltaMs = 0;
    const run = new NodePaintRun(
      { ...this.opts.args, stampCorrectionMs: this.correctionMs },
      this.opts.ffmpegPath,
    );
    this.nodeRun = run;
    this.child = undefined;
    this.childMode = 'paint';
    this.resetRun();
    run.once('spawn', () => {
      logger.info({ pid: run.pid, decoderPid: run.decoder.pid, painter: 'node' }, 'ffmpeg started');
      this.emit('run', { pid: run.pid, mode: 'paint' });
    });
    run.on('frame', (f: NodeFrame) => {
      // A run being replaced may still hand on its last pictures: they are not the new run's.
      if (this.nodeRun !== run) return;
      this.runFrames++;
      this.lastProgressAt = Date.now();
      if (f.stamp !== undefined) {
        this.framesPainted++;
        this.stamps.set(f.index, f.stamp);
        if (this.stamps.size > 600) this.stamps.delete(f.index - 600);
        if (this.listenerCount('stamp') > 0) this.emit('stamp', { pts: f.pts, stamp: f.stamp });
      } else {
        this.framesPassed++;
        this.framesConcealed++;
        this.emit('concealed', { pts: f.pts, passed: true, errors: this.errorsSinceStamp });
      }
      this.errorsSinceStamp = 0;
      if (!this.stopping) this.setMode('paint');
    });
    run.on('progress', (line: string) => {
      if (this.nodeRun === run) this.onProgress(line, 'paint', false);
    });
    run.on('log', (l: { line: string; level: string; pid?: number }) => {
      if (l.level !== 'info') this.onStderr(l.line, l.pid);
    });
    run.once('close', () => {
      clearInterval(this.watchdog);
      this.emit('exit', {
        pid: run.pid,
        mode: 'paint',
        code: run.encoder.exitCode,
        signal: run.encoder.signalCode,
      });
      if (this.stopping) return;
      logger.warn(
        {
          pid: run.pid,
          decoderPid: run.decoder.pid,
          code: run.encoder.exitCode,
          decoderCode: run.decoder.exitCode,
        },
        'ffmpeg run ended',
      );
      this.onRunEnded('paint');
    });
    this.watch(() => {
      logger.warn({ pid: run.pid }, 'ffmpeg shows no new frame; replacing the run');
      run.kill();
    });
  }

  private onRunEnded(mode: 'paint' | 'passthrough'): void {
    this.setMode('down');
    const healthy = this.lastProgressAt !== 0 && Date.now() - this.runStartedAt > 20_000;
    this.failures = healthy ? 0 : this.failures + 1;
    let next: 'paint' | 'passthrough' = 'paint';
    let delay = 0;
    if (mode === 'paint' && this.opts.passthroughOnError) {
      // Painting failed: the feed goes on unpainted at once, and painting is retried later.
      next = 'passthrough';
      this.paintAgainAt = Date.now() + (this.opts.holdMs ?? 30_000);
    } else if (mode === 'passthrough' && this.paintAgainAt && Date.now() >= this.paintAgainAt) {
      next = 'paint';
      this.paintAgainAt = 0;
    } else {
      next = mode;
      const base = this.opts.backoffMs ?? 500;
      delay = Math.min(this.opts.maxBackoffMs ?? 10_000, base * 2 ** Math.max(0, this.failures - 1));
    }
    this.timer = setTimeout(() => {
      this.restarts++;
      this.launch(next);
    }, delay);
  }

  /** `counts`: the encoder's frame count is the run's (not with the Node painter, which counts itself). */
  private onProgress(line: string, mode: 'paint' | 'passthrough', counts = true): void {
    const m = /^frame=(\d+)/.exec(line);
    if (!m) return;
    const frames = Number(m[1]);
    if (counts) {
      if (frames <= this.runFrames) return;
      const delta = frames - this.runFrames;
      this.runFrames = frames;
      this.lastProgressAt = Date.now();
      if (mode === 'paint') this.framesPainted += delta;
      else this.framesPassed += delta;
      this.setMode(mode);
    }
    if (mode === 'paint' && frames > 0) {
      // The latest frame handed to the encoder: how long ago it was stamped.
      const stamp = this.stamps.get(frames - 1);
      if (stamp !== undefined) {
        this.delaySamples.push(Math.max(0, this.lastProgressAt - stamp));
        if (this.delaySamples.length > DELAY_WINDOW) this.delaySamples.shift();
      }
      for (const k of this.stamps.keys()) if (k < frames - 1) this.stamps.delete(k);
    }
  }

  private onStderr(raw: string, pid: number | undefined): void {
    // ffmpeg names its input and output in its messages: their credentials never reach the log.
    const line = redactUrlsIn(raw);
    // geq prints two numbers per painted frame: its pts (90 kHz), then its stamp (epoch ms).
    if (/^-?\d+\.\d+$/.test(line)) {
      const v = Number(line);
      if (this.pendingPts === undefined) this.pendingPts = v;
      else {
        this.stamps.set(this.stampIndex++, v);
        if (this.listenerCount('stamp') > 0) this.emit('stamp', { pts: this.pendingPts, stamp: v });
        if (this.errorsSinceStamp > 0) {
          // ffmpeg 5.1 decodes, filters and encodes on one thread, in order: the decoder's complaints
          // printed since the previous stamp were about this frame (exact without B-frames; with them,
          // off by the reorder depth). It was painted over a concealed picture: say so, per frame.
          this.framesConcealed++;
          this.emit('concealed', { pts: this.pendingPts, stamp: v, errors: this.errorsSinceStamp });
          this.errorsSinceStamp = 0;
        }
        this.pendingPts = undefined;
        if (this.stamps.size > 600) this.stamps.delete(this.stampIndex - 601);
      }
      return;
    }
    // av_log's repeat compression of the decoder's join-time errors: noise, whatever the log level flags.
    if (line.startsWith('Last message repeated')) return;
    // ffmpeg's echo of a filter command (setCorrection): ret:0 is success.
    if (line.startsWith('Enter command:')) return;
    if (line.startsWith('Command reply')) {
      if (!/ret:0\b/.test(line)) this.opts.logger.warn({ pid }, `ffmpeg: ${line}`);
      return;
    }
    if (DECODE_ERROR.test(line)) {
      this.decodeErrors++;
      if (this.childMode === 'paint') this.errorsSinceStamp++;
      this.opts.logger.debug({ pid }, `ffmpeg: ${line}`);
      return;
    }
    const now = Date.now();
    if (now - (this.logged.get(line) ?? 0) < LOG_EVERY_MS) return;
    if (this.logged.size > 500) this.logged.clear();
    this.logged.set(line, now);
    this.opts.logger.warn({ pid, mode: this.childMode }, `ffmpeg: ${line}`);
  }

  /** Ends the current run (SIGTERM, then SIGKILL) and starts nothing more. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    const child = this.child;
    this.setMode('down');
    const run = this.nodeRun;
    if (run?.alive) {
      const closed = new Promise<void>((resolve) => run.once('close', () => resolve()));
      run.kill('SIGTERM');
      const t = setTimeout(() => run.kill('SIGKILL'), graceMs);
      await closed;
      clearTimeout(t);
      return;
    }
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    kill(child, 'SIGTERM');
    const t = setTimeout(() => kill(child, 'SIGKILL'), graceMs);
    await closed;
    clearTimeout(t);
  }
}

function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { decodeArgs, encodeArgs, type InjectArgs } from './args.js';
import { FrameStream } from './frame-stream.js';
import { MKV_TIMECODE_SCALE_NS, mkvFrameHeader, mkvHeader } from './mkv.js';
import { StripPainter } from './strip-paint.js';

/** What the run reports per picture, once its last byte is handed to the encoder. */
export interface NodeFrame {
  /** Index in this run (the encoder's frame count minus one). */
  index: number;
  /** pts, 90 kHz. */
  pts: number;
  /** Epoch ms painted (host clock + correction at arrival); undefined when left unpainted. */
  stamp?: number;
  /** The decoder flagged the picture (concealed / damaged): it went on unpainted. */
  corrupt: boolean;
}

const SHOWINFO = /Parsed_showinfo.*\bn:\s*\d+\s+pts:\s*(-?\d+)/;
const SHOWINFO_TB = /Parsed_showinfo.*config in time_base:\s*(\d+)\/(\d+)/;
const CORRUPT = /corrupt decoded frame/;
/** Info-level chatter of the decoder run that is not news (stream listings, progress, showinfo itself). */
const INFO = /\[info\]/;

/**
 * One painting run with the painter in Node: ffmpeg #1 decodes (args.ts decodeArgs) and writes its log and
 * its raw pictures on one pipe (frame-stream.ts), Node paints the band into each picture's luma as it
 * streams through (strip-paint.ts), stamped with the host clock when the picture arrives, and ffmpeg #2
 * (encodeArgs) encodes and pushes. A picture the decoder flagged as corrupt goes on unpainted.
 *
 * Events: 'spawn', 'frame' (NodeFrame), 'progress' (encoder stdout line), 'log' ({line, level, pid}),
 * 'close' (both processes gone; the first exit ends the other).
 */
export class NodePaintRun extends EventEmitter {
  readonly decoder: ChildProcess;
  readonly encoder: ChildProcess;
  private correctionMs: number;
  private tb = { num: 1, den: 90_000 };
  private readonly pending: { pts: number; corrupt: boolean }[] = [];
  private corruptNext = false;
  private painter: StripPainter | undefined;
  private current: { pts: number; stamp?: number; corrupt: boolean } | undefined;
  private frameBytes = 0;
  private index = 0;
  private closed = 0;
  private encoding = false;
  private unpaired = false;
  private lastPts = 0;
  /** One picture's duration in the pts time base (from the picture stream's frame rate). */
  private ticksPerFrame = 0;

  constructor(args: InjectArgs, ffmpegPath = 'ffmpeg') {
    super();
    this.correctionMs = args.stampCorrectionMs;
    this.decoder = spawn(ffmpegPath, decodeArgs(args), { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    this.encoder = spawn(ffmpegPath, encodeArgs(args), { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const toEnc = this.encoder.stdin!;
    const audioIn = this.encoder.stdio[3] as Writable;
    const audioOut = this.decoder.stdio[3] as Readable;
    for (const w of [toEnc, audioIn]) w.on('error', () => undefined);
    const stream = new FrameStream({
      line: (l) => this.onLine(l),
      header: (h) => {
        this.frameBytes = h.frameBytes;
        if (h.fps.num > 0) this.ticksPerFrame = (this.tb.den * h.fps.den) / (this.tb.num * h.fps.num);
        this.painter = new StripPainter(h.width, h.height, args.placement, args.id);
        toEnc.write(mkvHeader(h.width, h.height, h.fps));
      },
      frameStart: () => this.onFrameStart(),
      frameData: (chunk, offset) => {
        if (this.current?.stamp !== undefined) this.painter?.paint(chunk, offset);
        if (!toEnc.write(chunk) && this.encoding && this.closed === 0) {
          // The encoder is behind: hold the decoder (its pipe fills and it waits) until it catches up. Not
          // before it encodes: while it opens its audio input it reads no pictures, and a held decoder
          // would send no audio.
          this.decoder.stderr?.pause();
          toEnc.once('drain', () => this.decoder.stderr?.resume());
        }
      },
      frameEnd: () => {
        const c = this.current;
        if (!c) return;
        this.emit('frame', {
          index: this.index++,
          pts: Math.round((c.pts * 90_000 * this.tb.num) / this.tb.den),
          corrupt: c.corrupt,
          ...(c.stamp !== undefined ? { stamp: c.stamp } : {}),
        } satisfies NodeFrame);
        this.current = undefined;
      },
    });
    this.decoder.stderr!.on('data', (chunk: Buffer) => {
      try {
        stream.push(chunk);
      } catch (err) {
        this.emit('log', { line: (err as Error).message, level: 'error', pid: this.decoder.pid });
        this.kill();
      }
    });
    // Audio is relayed without back-pressure: the encoder opens its picture input first, and a held
    // decoder would never send the pictures it waits for.
    audioOut.on('data', (chunk: Buffer) => audioIn.write(chunk));
    audioOut.on('end', () => audioIn.end());
    lines(this.encoder.stdout!, (l) => {
      if (l.startsWith('frame=') && !l.startsWith('frame=0')) this.encoding = true;
      this.emit('progress', l);
    });
    lines(this.encoder.stderr!, (l) => this.emit('log', { line: l, level: 'error', pid: this.encoder.pid }));
    let spawned = 0;
    for (const child of [this.decoder, this.encoder]) {
      child.once('spawn', () => {
        if (++spawned === 2) this.emit('spawn');
      });
      let gone = false;
      const onGone = () => {
        if (gone) return;
        gone = true;
        // One side gone ends the run: the other would wait forever on a dead pipe. Its exit, not its
        // pipes' close: a held (paused) decoder pipe would never close, so it is let go here.
        this.kill();
        this.decoder.stderr?.resume();
        if (child === this.decoder) toEnc.end();
        if (++this.closed === 2) this.emit('close');
      };
      child.once('error', (err) => {
        this.emit('log', { line: `ffmpeg: ${err.message}`, level: 'error' });
        onGone();
      });
      child.once('exit', onGone);
    }
  }

  /** The encoder's PID (the process pushing the output). */
  get pid(): number | undefined {
    return this.encoder.pid;
  }

  get alive(): boolean {
    return this.closed < 2;
  }

  /** Stamp correction (ms added to the host clock), from the next picture on. */
  setCorrection(ms: number): void {
    this.correctionMs = ms;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const child of [this.decoder, this.encoder])
      try {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
          process.kill(child.pid, signal);
      } catch {
        // already gone
      }
  }

  private onLine(line: string): void {
    if (CORRUPT.test(line)) {
      // About the next picture showinfo names (the warning is printed right after decoding it).
      this.corruptNext = true;
      return;
    }
    const m = SHOWINFO.exec(line);
    if (m) {
      this.pending.push({ pts: Number(m[1]), corrupt: this.corruptNext });
      this.corruptNext = false;
      return;
    }
    const tb = SHOWINFO_TB.exec(line);
    if (tb) {
      this.tb = { num: Number(tb[1]), den: Number(tb[2]) };
      return;
    }
    if (line.includes('Parsed_showinfo')) return;
    this.emit('log', { line, level: INFO.test(line) ? 'info' : 'warning', pid: this.decoder.pid });
  }

  private onFrameStart(): void {
    const stamp = Math.round(Date.now() + this.correctionMs);
    // showinfo's line comes before its picture. None left would be a broken pairing (never seen): the
    // picture is painted (most are whole) at the pts it should have, and the log says so once.
    let info = this.pending.shift();
    if (!info) {
      if (!this.unpaired)
        this.emit('log', { line: 'a picture came without its pts line; painting it', level: 'warning' });
      this.unpaired = true;
      info = { pts: this.lastPts + this.ticksPerFrame, corrupt: false };
    }
    this.lastPts = info.pts;
    this.current = { pts: info.pts, corrupt: info.corrupt, ...(info.corrupt ? {} : { stamp }) };
    if (!info.corrupt) this.painter?.begin(stamp);
    const us = Math.round((info.pts * 1e9 * this.tb.num) / this.tb.den / MKV_TIMECODE_SCALE_NS);
    this.encoder.stdin?.write(mkvFrameHeader(Math.max(0, us), this.frameBytes));
  }
}

/** Calls `onLine` with each non-empty trimmed line of a child's text stream. */
export function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let tail = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    const parts = (tail + d).split('\n');
    tail = parts.pop() ?? '';
    for (const p of parts) {
      const l = p.trim();
      if (l) onLine(l);
    }
  });
}

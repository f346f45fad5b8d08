import { CLOCK_COLS, CLOCK_ROWS, CLOCK_STRIP_HEIGHT, encodeClockBits } from '../shared/clock.js';
import {
  BED_AMPLITUDE,
  BED_TONE_HZ,
  isMarkedFrame,
  SYNC_MARKER,
  SYNC_MARKER_CLEAR_X,
  SYNC_PERIOD_S,
  SYNC_TONE_AMPLITUDE,
  SYNC_TONE_HZ,
  SYNC_TONE_MS,
} from '../shared/sync-marker.js';

/** Luma for a 1 bit / 0 bit of the clock strip (studio range white / black). */
export const CLOCK_WHITE = 235;
export const CLOCK_BLACK = 16;

export interface FrameGeometry {
  width: number;
  height: number;
}

/** Bytes of one yuv420p frame. */
export function frameBytes(g: FrameGeometry): number {
  return g.width * g.height + 2 * (g.width / 2) * (g.height / 2);
}

/**
 * Paints yuv420p frames: the capture clock strip across the full width of the top CLOCK_STRIP_HEIGHT of the
 * frame, below it a sliding bar and a frame-counter row so the picture is never frozen, and in the right
 * margin the A/V sync marker pair (shared/sync-marker.ts), flipped on each marked frame.
 */
export class FramePainter {
  readonly width: number;
  readonly height: number;
  readonly size: number;
  private readonly template: Buffer;
  private readonly stripHeight: number;
  private readonly colEdges: number[];
  private readonly rowEdges: number[];
  private readonly fps: number;
  private readonly marker: { x0: number; x1: number; upper: [number, number]; lower: [number, number] };
  private readonly blackFrame: Buffer;
  private last: Buffer | undefined;
  /** Asked once per frame: a picture fault active at the source (testbed/faults/freeze.ts, black.ts). */
  mode: () => 'freeze' | 'black' | undefined = () => undefined;

  constructor(g: FrameGeometry = { width: 640, height: 360 }, fps = 30) {
    if (g.width % 2 || g.height % 2) throw new Error('frame width and height must be even');
    this.width = g.width;
    this.height = g.height;
    this.size = frameBytes(g);
    this.fps = fps;
    const px = (f: number, of: number) => Math.round(f * of);
    this.marker = {
      x0: px(SYNC_MARKER.x0, g.width),
      x1: px(SYNC_MARKER.x1, g.width),
      upper: [px(SYNC_MARKER.upper.y0, g.height), px(SYNC_MARKER.upper.y1, g.height)],
      lower: [px(SYNC_MARKER.lower.y0, g.height), px(SYNC_MARKER.lower.y1, g.height)],
    };
    this.stripHeight = Math.round(g.height * CLOCK_STRIP_HEIGHT);
    this.colEdges = Array.from({ length: CLOCK_COLS + 1 }, (_, i) => Math.round((i * g.width) / CLOCK_COLS));
    this.rowEdges = Array.from({ length: CLOCK_ROWS + 1 }, (_, i) =>
      Math.round((i * this.stripHeight) / CLOCK_ROWS),
    );
    this.template = Buffer.alloc(this.size);
    const ySize = g.width * g.height;
    this.template.fill(64, 0, ySize); // dark grey background
    this.template.fill(128, ySize); // neutral chroma
    this.blackFrame = Buffer.alloc(this.size);
    this.blackFrame.fill(CLOCK_BLACK, 0, ySize);
    this.blackFrame.fill(128, ySize);
  }

  /**
   * The frame to send for `captureMs` / `n`, after any picture fault: black is studio black everywhere (the
   * clock strip too, as a dead input would be); freeze repeats the last frame sent, byte for byte.
   */
  frame(captureMs: number, n: number): Buffer {
    const mode = this.mode();
    if (mode === 'black') return this.blackFrame;
    if (mode === 'freeze' && this.last) return this.last;
    this.last = this.paint(captureMs, n);
    return this.last;
  }

  /** A new frame buffer carrying `captureMs` in the strip and frame number `n` in the moving parts. */
  paint(captureMs: number, n: number): Buffer {
    const buf = Buffer.allocUnsafe(this.size);
    this.template.copy(buf);
    const w = this.width;
    const bits = encodeClockBits(captureMs);
    for (let i = 0; i < bits.length; i++) {
      const row = Math.floor(i / CLOCK_COLS);
      const col = i % CLOCK_COLS;
      const luma = bits[i] ? CLOCK_WHITE : CLOCK_BLACK;
      const x0 = this.colEdges[col]!;
      const x1 = this.colEdges[col + 1]!;
      for (let y = this.rowEdges[row]!; y < this.rowEdges[row + 1]!; y++)
        buf.fill(luma, y * w + x0, y * w + x1);
    }
    // Sliding bar: a bright vertical band crossing the picture every 2 s at 30 fps.
    const barW = Math.max(2, Math.round(w / 24)) & ~1;
    // The bar stays left of the sync marker, so it never lights the marker blocks.
    const span = Math.round(w * SYNC_MARKER_CLEAR_X) - barW;
    const period = 60;
    const phase = n % (2 * period);
    const barX = (Math.round(((phase < period ? phase : 2 * period - phase) / period) * span) & ~1) as number;
    const counterTop = this.height - Math.round(this.height / 9);
    for (let y = this.stripHeight + 2; y < counterTop - 2; y++)
      buf.fill(200, y * w + barX, y * w + barX + barW);
    // Chroma of the bar: orange-ish (U low, V high).
    const ySize = w * this.height;
    const cw = w / 2;
    const cSize = cw * (this.height / 2);
    for (let cy = (this.stripHeight + 2) >> 1; cy < (counterTop - 2) >> 1; cy++) {
      buf.fill(80, ySize + cy * cw + (barX >> 1), ySize + cy * cw + ((barX + barW) >> 1));
      buf.fill(190, ySize + cSize + cy * cw + (barX >> 1), ySize + cSize + cy * cw + ((barX + barW) >> 1));
    }
    // Sync marker: upper bright + lower dark on a marked frame, the reverse on every other frame.
    const marked = isMarkedFrame(n, this.fps);
    const m = this.marker;
    for (const [[y0, y1], on] of [
      [m.upper, marked],
      [m.lower, !marked],
    ] as const)
      for (let y = y0; y < y1; y++) buf.fill(on ? CLOCK_WHITE : CLOCK_BLACK, y * w + m.x0, y * w + m.x1);
    // Frame counter: 16 bits of n as blocks along the bottom.
    const blockW = Math.floor(w / 16);
    for (let b = 0; b < 16; b++) {
      const on = (n >> (15 - b)) & 1;
      const luma = on ? 180 : 32;
      for (let y = counterTop; y < this.height; y++)
        buf.fill(luma, y * w + b * blockW, y * w + (b + 1) * blockW - 2);
    }
    return buf;
  }
}

export const AUDIO_RATE = 48_000;

/** What the source's audio carries right now; faults change it (testbed/source-control.ts). */
export interface AudioState {
  /** Every sample 0: the track keeps flowing, silent. */
  silent: boolean;
  /** The audio content plays this many ms after the picture it belongs to (negative: before). */
  shiftMs: number;
}

/**
 * Paints the audio that goes with frame n: mono s16le at AUDIO_RATE, a quiet continuous 440 Hz bed and, at the
 * start of every sync period, a SYNC_TONE_MS burst of SYNC_TONE_HZ starting on the same media instant as the
 * marked frame. Samples are a function of their media time, so audio and picture cannot slip apart; a shift
 * (av-drift) moves the content, not the timestamps.
 */
export class AudioPainter {
  constructor(
    private readonly fps: number,
    private readonly state: () => AudioState,
  ) {}

  /** The samples of frame n's duration: [round(n * rate / fps), round((n + 1) * rate / fps)). */
  paint(n: number): Buffer {
    const s0 = Math.round((n * AUDIO_RATE) / this.fps);
    const s1 = Math.round(((n + 1) * AUDIO_RATE) / this.fps);
    const buf = Buffer.alloc((s1 - s0) * 2);
    const st = this.state();
    if (st.silent) return buf;
    const shift = Math.round((st.shiftMs * AUDIO_RATE) / 1000);
    const period = SYNC_PERIOD_S * AUDIO_RATE;
    const toneLen = Math.round((SYNC_TONE_MS * AUDIO_RATE) / 1000);
    for (let i = s0; i < s1; i++) {
      const k = i - shift;
      let v = BED_AMPLITUDE * Math.sin((2 * Math.PI * BED_TONE_HZ * k) / AUDIO_RATE);
      const inPeriod = ((k % period) + period) % period;
      if (inPeriod < toneLen)
        v += SYNC_TONE_AMPLITUDE * Math.sin((2 * Math.PI * SYNC_TONE_HZ * inPeriod) / AUDIO_RATE);
      buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32767))), (i - s0) * 2);
    }
    return buf;
  }
}

export interface PacerOptions {
  fps: number;
  painter: FramePainter;
  /** Called with each painted frame and its number; return false when the sink is backed up. */
  write(frame: Buffer, n: number): boolean;
  /** Bytes queued in the sink, used to drop frames when the encoder cannot keep up. */
  queued(): number;
  now?: () => number;
  onLag?(lagMs: number): void;
  /** Called after each frame is handed to the sink, with its number and capture stamp. */
  onFrame?(n: number, stampMs: number): void;
}

/**
 * Writes frames paced by the wall clock with drift correction: frame n is due at t0 + n / fps on the monotonic
 * clock, so timer jitter never accumulates. Frame n is stamped with its capture instant on the wall clock,
 * Date.now() read at the start of the run plus n / fps: the time the frame is due, which is when it is
 * generated unless the event loop is late. A late loop therefore delays the frame's delivery (it shows as
 * latency, as a real camera's late frames would) instead of bending the picture's clock, so the in-frame
 * clock, the media timeline and PROGRAM-DATE-TIME stay exactly in step. If the loop falls more than 1 s
 * behind, or the wall clock is stepped by more than 1 s, the run re-anchors (logged).
 */
export function startPacer(opts: PacerOptions): { stop(): void; frames(): number } {
  const periodMs = 1000 / opts.fps;
  const mono = () => performance.now();
  const wall = opts.now ?? Date.now;
  const maxQueued = opts.painter.size * opts.fps * 2; // 2 s of video
  let t0 = mono();
  let wall0 = wall();
  let anchorN = 0;
  let n = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped) return;
    const now = mono();
    let due = Math.floor((now - t0) / periodMs) + 1 - (n - anchorN); // frames due up to now
    const wallStep = Math.abs(wall() - (wall0 + (now - t0)));
    if (due > opts.fps || wallStep > 1000) {
      opts.onLag?.(now - (t0 + (n - anchorN) * periodMs));
      // Re-anchor: media time slips against the wall clock from here on.
      t0 = now;
      wall0 = wall();
      anchorN = n;
      due = 1;
    }
    for (let i = 0; i < due; i++) {
      const stampMs = Math.round(wall0 + (n - anchorN) * periodMs);
      if (opts.queued() > maxQueued) {
        // The encoder is hopelessly behind: drop rather than buffer without bound.
        n++;
        continue;
      }
      opts.write(opts.painter.frame(stampMs, n), n);
      opts.onFrame?.(n, stampMs);
      n++;
    }
    if (stopped) return;
    const next = t0 + (n - anchorN) * periodMs;
    timer = setTimeout(tick, Math.max(0, next - mono()));
  };
  tick();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    frames: () => n,
  };
}

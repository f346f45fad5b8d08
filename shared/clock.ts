/**
 * The in-frame capture clock: the source paints Date.now() at capture time into the top of every frame as
 * 2 rows x 32 black/white blocks (48 bits of epoch ms, MSB first, then a 16-bit check word). Big blocks
 * survive H.264 at low bitrates; the check word rejects a misread frame instead of reporting a wrong
 * latency. Geometry is relative to the frame, so any rendition size decodes the same way.
 */
export const CLOCK_COLS = 32;
export const CLOCK_ROWS = 2;
export const CLOCK_BITS = CLOCK_COLS * CLOCK_ROWS;
/** Height of the strip as a fraction of the frame height (64 px of 360). */
export const CLOCK_STRIP_HEIGHT = 64 / 360;

/**
 * Check word over the 48-bit value. Self-contained (no imports, no closures) because the browser harness
 * receives its source text through Function.prototype.toString.
 */
export function clockCheckWord(ms: number): number {
  const hi = Math.floor(ms / 4294967296) & 0xffff;
  const lo = ms % 4294967296;
  const w1 = Math.floor(lo / 65536) & 0xffff;
  const w0 = lo & 0xffff;
  const rotl = (w: number, n: number) => ((w << n) | (w >>> (16 - n))) & 0xffff;
  return (w0 ^ rotl(w1, 5) ^ rotl(hi, 11) ^ 0xa5a5) & 0xffff;
}

/** 64 bits, block order: row 0 left to right, then row 1. */
export function encodeClockBits(ms: number): number[] {
  const bits: number[] = [];
  let v = Math.floor(ms);
  const value: number[] = [];
  for (let i = 0; i < 48; i++) {
    value.push(v % 2);
    v = Math.floor(v / 2);
  }
  for (let i = 47; i >= 0; i--) bits.push(value[i] ?? 0);
  const check = clockCheckWord(Math.floor(ms));
  for (let i = 15; i >= 0; i--) bits.push((check >> i) & 1);
  return bits;
}

/**
 * Bits -> epoch ms, or null when the check word does not match (no strip, or a misread).
 * Self-contained for the same reason as clockCheckWord; it receives the check function as an argument.
 */
export function decodeClockBits(bits: ArrayLike<number>, checkWord: (ms: number) => number): number | null {
  if (bits.length !== 64) return null;
  let ms = 0;
  for (let i = 0; i < 48; i++) ms = ms * 2 + (bits[i] ? 1 : 0);
  let check = 0;
  for (let i = 48; i < 64; i++) check = (check << 1) | (bits[i] ? 1 : 0);
  if (ms === 0 || checkWord(ms) !== check) return null;
  return ms;
}

/** Centre of block i as fractions of the frame (x, y), for painting and for sampling. */
export function clockBlockCentre(i: number): { x: number; y: number } {
  const col = i % CLOCK_COLS;
  const row = Math.floor(i / CLOCK_COLS);
  return { x: (col + 0.5) / CLOCK_COLS, y: ((row + 0.5) / CLOCK_ROWS) * CLOCK_STRIP_HEIGHT };
}

/**
 * The strip as a band that may sit anywhere a clock painter puts it (the testbed across the top, the
 * injector in a corner): 3 rows x 32 blocks, rows 0-1 the 64 clock bits above, row 2 the painter's id
 * (16 bits, then clockCheckWord(id) so a strip without an id row never yields one). The band's width is
 * `size` of the frame width and its height `size * STRIP_BAND_HEIGHT` of the frame height, so the blocks keep
 * the testbed's proportions at every size; the testbed's strip is the top band at size 1 (its third row is
 * picture, which fails the id check).
 */
export const STRIP_ROWS = 3;
export const STRIP_BAND_HEIGHT = (CLOCK_STRIP_HEIGHT * STRIP_ROWS) / CLOCK_ROWS;
export const STRIP_CORNERS = ['top-left', 'top-right', 'bottom-left', 'bottom-right'] as const;
export type StripCorner = (typeof STRIP_CORNERS)[number];
/** Band sizes a reader searches; a painter must use one of them (all read at 240p 150 kbit/s). */
export const STRIP_SIZES = [1, 0.5, 0.25] as const;
export type StripSize = (typeof STRIP_SIZES)[number];

export interface StripPlacement {
  corner: StripCorner;
  size: StripSize;
}

/** The band's rectangle as fractions of the frame. */
export function stripRect(p: StripPlacement): { x: number; y: number; w: number; h: number } {
  const w = p.size;
  const h = p.size * STRIP_BAND_HEIGHT;
  return {
    x: p.corner.endsWith('right') ? 1 - w : 0,
    y: p.corner.startsWith('bottom') ? 1 - h : 0,
    w,
    h,
  };
}

/** At size 1 the band spans the width: left and right name the same band, and readers say "left". */
export function canonicalPlacement(p: StripPlacement): StripPlacement {
  return p.size === 1 ? { corner: p.corner.startsWith('top') ? 'top-left' : 'bottom-left', size: 1 } : p;
}

/** "top-left@0.5": how a placement appears in reports and logs. */
export const placementName = (p: StripPlacement): string => `${p.corner}@${p.size}`;

/**
 * Every distinct placement a reader tries, most likely first (the testbed's top band, then the injector's
 * default). At size 1 left and right are the same band, so only the left ones are listed.
 */
export const STRIP_PLACEMENTS: StripPlacement[] = (() => {
  const out: StripPlacement[] = [
    { corner: 'top-left', size: 1 },
    { corner: 'bottom-left', size: 0.5 },
  ];
  for (const size of STRIP_SIZES)
    for (const corner of STRIP_CORNERS) {
      if (size === 1 && corner.endsWith('right')) continue;
      if (!out.some((p) => p.corner === corner && p.size === size)) out.push({ corner, size });
    }
  return out;
})();

/** Painter id: 1..65535 (0 is "no id"). */
export const MAX_STRIP_ID = 0xffff;

/** 32 bits of the id row: the id (16 bits, MSB first), then its check word. */
export function encodeIdBits(id: number): number[] {
  const check = clockCheckWord(id);
  const bits: number[] = [];
  for (let i = 15; i >= 0; i--) bits.push((id >> i) & 1);
  for (let i = 15; i >= 0; i--) bits.push((check >> i) & 1);
  return bits;
}

/** Id row bits -> id, or null when absent or misread. Self-contained (shipped to the browser page). */
export function decodeIdBits(bits: ArrayLike<number>, checkWord: (ms: number) => number): number | null {
  if (bits.length !== 32) return null;
  let id = 0;
  for (let i = 0; i < 16; i++) id = id * 2 + (bits[i] ? 1 : 0);
  let check = 0;
  for (let i = 16; i < 32; i++) check = (check << 1) | (bits[i] ? 1 : 0);
  if (id === 0 || checkWord(id) !== check) return null;
  return id;
}

/** Centre of block i (0..95, row-major over 3 rows) as fractions of the band. */
export function stripBlockCentre(i: number): { x: number; y: number } {
  const col = i % CLOCK_COLS;
  const row = Math.floor(i / CLOCK_COLS);
  return { x: (col + 0.5) / CLOCK_COLS, y: (row + 0.5) / STRIP_ROWS };
}

export interface StripRead {
  capture: number;
  id?: number;
  placement: StripPlacement;
}

/**
 * Reads the strip from an 8-bit luma frame (Node side: benches, tests), trying `placements` in order; the
 * first whose clock check word matches wins. Null when no placement holds a strip.
 */
export function readStripFromLuma(
  luma: Uint8Array,
  width: number,
  height: number,
  placements: readonly StripPlacement[] = STRIP_PLACEMENTS,
): StripRead | null {
  if (luma.length < width * height) return null;
  for (const placement of placements) {
    const r = stripRect(placement);
    const bw = (r.w * width) / CLOCK_COLS;
    const bh = (r.h * height) / STRIP_ROWS;
    const rad = Math.max(0, Math.floor(Math.min(bw, bh) / 4));
    const bits: number[] = [];
    for (let i = 0; i < CLOCK_COLS * STRIP_ROWS; i++) {
      const c = stripBlockCentre(i);
      const cx = Math.min(width - 1, Math.floor((r.x + c.x * r.w) * width));
      const cy = Math.min(height - 1, Math.floor((r.y + c.y * r.h) * height));
      let sum = 0;
      let n = 0;
      for (let y = Math.max(0, cy - rad); y <= Math.min(height - 1, cy + rad); y++)
        for (let x = Math.max(0, cx - rad); x <= Math.min(width - 1, cx + rad); x++) {
          sum += luma[y * width + x]!;
          n++;
        }
      bits.push(sum / n >= 128 ? 1 : 0);
    }
    const capture = decodeClockBits(bits.slice(0, CLOCK_BITS), clockCheckWord);
    if (capture === null) continue;
    const id = decodeIdBits(bits.slice(CLOCK_BITS), clockCheckWord);
    return id === null ? { capture, placement } : { capture, id, placement };
  }
  return null;
}

/**
 * The band in whole pixels for a width x height picture, as both injector painters lay it (ffmpeg's
 * scale2ref graph and the Node painter): width rounded down to even, height a whole number of pixels per
 * strip row.
 */
export function stripPixelRect(
  p: StripPlacement,
  width: number,
  height: number,
): { x: number; y: number; w: number; h: number; rowH: number } {
  const w = Math.floor((width * p.size) / 2) * 2;
  const rowH = Math.floor((height * p.size * STRIP_BAND_HEIGHT) / STRIP_ROWS);
  const h = rowH * STRIP_ROWS;
  return {
    x: p.corner.endsWith('right') ? width - w : 0,
    y: p.corner.startsWith('bottom') ? height - h : 0,
    w,
    h,
    rowH,
  };
}

/** The 96 blocks of an injector's band, row-major: 64 clock bits (ms), then the 32 id-row bits. */
export function encodeStripBits(ms: number, id: number): number[] {
  return [...encodeClockBits(ms), ...encodeIdBits(id)];
}

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

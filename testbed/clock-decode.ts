import { CLOCK_BITS, clockBlockCentre, clockCheckWord, decodeClockBits } from '../shared/clock.js';

/**
 * Reads the in-frame capture clock from an 8-bit luma (gray) frame: the mean of a small window at each block
 * centre, threshold 128, then the shared check word. Null when the strip is absent or misread.
 */
export function decodeClockFromLuma(luma: Uint8Array, width: number, height: number): number | null {
  if (luma.length < width * height) return null;
  const bits: number[] = [];
  const r = Math.max(0, Math.floor(Math.min(width / 32, height / 11) / 4));
  for (let i = 0; i < CLOCK_BITS; i++) {
    const c = clockBlockCentre(i);
    const cx = Math.min(width - 1, Math.floor(c.x * width));
    const cy = Math.min(height - 1, Math.floor(c.y * height));
    let sum = 0;
    let n = 0;
    for (let y = Math.max(0, cy - r); y <= Math.min(height - 1, cy + r); y++)
      for (let x = Math.max(0, cx - r); x <= Math.min(width - 1, cx + r); x++) {
        sum += luma[y * width + x]!;
        n++;
      }
    bits.push(sum / n >= 128 ? 1 : 0);
  }
  return decodeClockBits(bits, clockCheckWord);
}

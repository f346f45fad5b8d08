/**
 * The A/V sync marker: every SYNC_PERIOD_S of media time the source marks one video frame (a block pair in
 * the picture flips) and starts a short SYNC_TONE_HZ tone burst at the same media instant. A player that
 * presents both in sync shows the marked frame when the burst starts; the browser probe measures the gap
 * (tone onset - marked frame display) as `av_offset_ms` (av_method "marker").
 *
 * The pair is two blocks stacked in the right margin of the picture, below the clock strip: on the marked
 * frame the upper block is bright and the lower one dark, on every other frame the reverse. Reading the
 * difference of the two (not an absolute level) keeps the marker robust to bitrate and scaling, and a
 * picture that is merely bright there never reads as marked. Geometry is relative to the frame, so every
 * rendition reads the same way; the clock strip (shared/clock.ts) is untouched.
 */
export const SYNC_PERIOD_S = 1;
export const SYNC_TONE_HZ = 1000;
export const SYNC_TONE_MS = 100;
/** The burst's amplitude (-6 dBFS) and the continuous bed's (a 440 Hz tone at -30 dBFS, never "silent"). */
export const SYNC_TONE_AMPLITUDE = 0.5;
export const BED_TONE_HZ = 440;
export const BED_AMPLITUDE = 0.0316;

/** Marker blocks as fractions of the frame: x0, x1 (shared), upper and lower block y ranges. */
export const SYNC_MARKER = {
  x0: 0.9,
  x1: 0.97,
  upper: { y0: 0.24, y1: 0.34 },
  lower: { y0: 0.38, y1: 0.48 },
} as const;
/** The sliding bar of the testbed picture stays left of this fraction of the width (clear of the marker). */
export const SYNC_MARKER_CLEAR_X = 0.88;
/** Marked when the upper block's mean luma exceeds the lower one's by at least this much (8-bit). */
export const SYNC_MARK_MIN_DIFF = 60;

/** Frame n is marked when it starts a sync period (frame numbers count from 0 at the run's media time 0). */
export function isMarkedFrame(n: number, fps: number): boolean {
  const period = Math.round(fps * SYNC_PERIOD_S);
  return period > 0 && n % period === 0;
}

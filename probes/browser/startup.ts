/**
 * The startup breakdown is a chain of causes: manifest -> media playlist -> first segment's first byte -> first
 * segment loaded -> first media buffered -> first frame. Each part is the instant we *observed* it, on one
 * clock (ms from loadSource), and observers differ in how late they learn: the first frame is stamped with
 * its presentation time (requestVideoFrameCallback expectedDisplayTime), while "buffered" comes from a
 * player or SourceBuffer event that runs as a task after the append, possibly after the picture was already
 * presented (bench:accuracy once found a DASH breakdown 5.7 ms out of order). A later step proves the earlier one had
 * happened by then, so an earlier part observed after a later one is bounded by it: the breakdown stays
 * causally ordered and never runs past startup_ms (the first frame).
 */
import type { StartupBreakdown } from '../../shared/schemas.js';

/** The causal order of the parts, earliest first. */
export const STARTUP_CHAIN = [
  'manifest_ms',
  'media_playlist_ms',
  'first_segment_ttfb_ms',
  'first_segment_ms',
  'first_buffered_ms',
  'first_frame_ms',
] as const satisfies readonly (keyof StartupBreakdown)[];

/** Each part bounded by every later part present (a backward running minimum); missing parts stay missing. */
export function causalStartup(s: StartupBreakdown): StartupBreakdown {
  const out: StartupBreakdown = { ...s };
  let bound = Number.POSITIVE_INFINITY;
  for (let i = STARTUP_CHAIN.length - 1; i >= 0; i--) {
    const k = STARTUP_CHAIN[i]!;
    const v = out[k];
    if (v === undefined) continue;
    if (v > bound) out[k] = bound;
    else bound = v;
  }
  return out;
}

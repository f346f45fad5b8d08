// Pure picture analysis for the harness page: no DOM, so Node unit tests import it directly.
// Pixels are canvas ImageData (RGBA bytes, row-major).

/** BT.601 luma of one RGBA pixel at byte offset o. */
export function luma(px, o) {
  return 0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2];
}

/**
 * Byte offsets of a 3x3 neighbourhood around each clock block centre, in a strip canvas of width x height
 * that holds the top `stripHeight` fraction of the frame. Centres are frame fractions (shared/clock.ts).
 */
export function clockSamplePoints(centres, stripHeight, width, height) {
  return centres.map((c) => {
    const cx = Math.floor(c.x * width);
    const cy = Math.floor((c.y / stripHeight) * height);
    const pts = [];
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const x = Math.min(width - 1, Math.max(0, cx + dx));
        const y = Math.min(height - 1, Math.max(0, cy + dy));
        pts.push((y * width + x) * 4);
      }
    }
    return pts;
  });
}

/** One bit per block: average luma of its sample points, threshold 128. */
export function readClockBits(px, samplePoints) {
  const bits = new Array(samplePoints.length);
  for (let i = 0; i < samplePoints.length; i++) {
    const pts = samplePoints[i];
    let sum = 0;
    for (const o of pts) sum += luma(px, o);
    bits[i] = sum / pts.length >= 128 ? 1 : 0;
  }
  return bits;
}

/**
 * Blanks (to black) the part of an RGBA canvas of width x height inside rect (fractions x0..x1, y0..y1;
 * clipped), so a clock band that changes every frame does not count as moving picture.
 */
export function maskRect(px, width, height, rect) {
  const xa = Math.max(0, Math.floor(rect.x0 * width));
  const xb = Math.min(width, Math.ceil(rect.x1 * width));
  const ya = Math.max(0, Math.floor(rect.y0 * height));
  const yb = Math.min(height, Math.ceil(rect.y1 * height));
  for (let y = ya; y < yb; y++)
    for (let x = xa; x < xb; x++) {
      const o = (y * width + x) * 4;
      px[o] = 0;
      px[o + 1] = 0;
      px[o + 2] = 0;
    }
}

/**
 * Luma summary of a small thumbnail of the picture (below the clock strip, which changes every frame).
 * Returns the luma array (for the next comparison), its mean and max, and the mean absolute difference to
 * the previous thumbnail (Infinity when there is none).
 */
export function pictureStats(px, prev) {
  const n = px.length / 4;
  const y = new Float32Array(n);
  let sum = 0;
  let max = 0;
  let diff = 0;
  for (let i = 0; i < n; i++) {
    const v = luma(px, i * 4);
    y[i] = v;
    sum += v;
    if (v > max) max = v;
    if (prev) diff += Math.abs(v - prev[i]);
  }
  return {
    luma: y,
    mean: sum / n,
    max,
    mad: prev && prev.length === n ? diff / n : Number.POSITIVE_INFINITY,
  };
}

/** A thumbnail counts as unchanged below this mean absolute luma difference (codec noise is ~0 on skips). */
export const UNCHANGED_MAD = 1;
/** A thumbnail counts as black when even its brightest pixel is this dark (studio black is 16). */
export const BLACK_MAX_LUMA = 40;

/**
 * Frozen and black picture detection as a small state machine fed with samples in time order.
 * - frozen: content unchanged for >= freezeMinMs while the playhead advanced (a stall is not a freeze);
 * - black: every sample black for >= blackMinMs.
 * Reports intervals through emit(type, payload, t): 'frozen-start'/'frozen-end', 'black-start'/'black-end';
 * a start is emitted once the minimum duration has passed but carries the time the condition began.
 */
export function createPictureMonitor({ freezeMinMs, blackMinMs, emit }) {
  let lastChangeAt = -1;
  let lastChangeMedia = 0;
  let frozen = false;
  let blackSince = -1;
  let black = false;

  function endFrozen(t) {
    if (frozen) emit('frozen-end', {}, t);
    frozen = false;
  }
  function endBlack(t) {
    if (black) emit('black-end', {}, t);
    black = false;
    blackSince = -1;
  }

  return {
    /**
     * @param {number} t sample time (timeline ms)
     * @param {{ changed: boolean, isBlack: boolean, mediaTime: number, stalled: boolean }} s
     *   changed: the picture differs from the previous sample (false when no new frame arrived at all)
     */
    sample(t, s) {
      if (s.stalled) {
        // Stalls are measured as stalls; restart both clocks when playback resumes.
        endFrozen(t);
        endBlack(t);
        lastChangeAt = -1;
        return;
      }
      if (lastChangeAt < 0 || s.changed) {
        endFrozen(t);
        lastChangeAt = t;
        lastChangeMedia = s.mediaTime;
      } else if (!frozen && t - lastChangeAt >= freezeMinMs) {
        // The playhead must have moved for most of that time: a paused or stuck playhead is not a freeze.
        if ((s.mediaTime - lastChangeMedia) * 1000 >= freezeMinMs / 2) {
          frozen = true;
          emit('frozen-start', {}, lastChangeAt);
        }
      }
      if (s.isBlack) {
        if (blackSince < 0) blackSince = t;
        if (!black && t - blackSince >= blackMinMs) {
          black = true;
          emit('black-start', {}, blackSince);
        }
      } else endBlack(t);
    },
  };
}

import { z } from 'zod';
import { lastSequence, parseMediaPlaylist } from '../hls.js';
import { defineFault } from './types.js';

/** Longest publish-delay: the origin keeps this much playlist history (and segments on disk). */
export const MAX_PUBLISH_DELAY_MS = 30_000;

/**
 * Publication held back by `ms`: HLS playlists are served as they were published `ms` ago and segments newer
 * than that version answer 404, so true glass-to-glass latency rises by `ms`. DASH: availabilityStartTime
 * moves `ms` later and segments answer 404 until `ms` after their normal availability.
 */
export const publishDelay = defineFault({
  type: 'publish-delay',
  description:
    'holds publication back by ms: HLS playlists are served as published ms ago and newer segments answer 404; DASH availabilityStartTime moves ms later and segments become available ms later',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z.object({ ms: z.number().int().min(1).max(MAX_PUBLISH_DELAY_MS) }).strict(),
  selectVersion(f, { ref, now, store }) {
    if (ref.kind !== 'playlist') return undefined;
    const history = store.history(ref.path);
    return store.asOf(ref.path, now - f.params.ms) ?? history[0];
  },
  editMpd(f, text) {
    return text.replace(/availabilityStartTime="([^"]+)"/, (_m, t: string) => {
      const ms = Date.parse(t);
      return Number.isFinite(ms) ? `availabilityStartTime="${new Date(ms + f.params.ms).toISOString()}"` : _m;
    });
  },
  segmentVisible(f, { ref, now, store, truth, segmentS }) {
    if (ref.kind !== 'segment' || ref.seq === undefined) return true;
    if (ref.stream.protocol === 'dash') {
      const start = truth.currentRunStart();
      // Segment $Number$ n (startNumber 1) ends n * segmentS after media time 0.
      return start === undefined || start + ref.seq * segmentS * 1000 + f.params.ms <= now;
    }
    const playlist = ref.rendition?.playlist;
    if (!playlist) return true;
    const v = store.asOf(playlist, now - f.params.ms) ?? store.history(playlist)[0];
    return v !== undefined && ref.seq <= lastSequence(parseMediaPlaylist(v.text));
  },
});

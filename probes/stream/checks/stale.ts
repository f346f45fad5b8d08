/**
 * Stale playlist (RFC 8216 6.2.1 publication rule: a new segment every 0.5-1.5 x TARGETDURATION): no new
 * segment for more than `factor` x TARGETDURATION since the newest segment was first seen. Code: playlist-stale.
 */
import { evidence, iso } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation, type RenditionType } from '../model.js';

export interface StaleInput {
  /** The playlist in which the newest segment first appeared (fetched at lastNewAt). */
  since: MediaPlaylist;
  cur: MediaPlaylist;
  /**
   * ms from the start of the request that first listed the newest segment to the start of the request that
   * still lists nothing newer (request starts on both sides, so the figure never flatters the stream).
   */
  ageMs: number;
  factor: number;
  /** A subtitle rendition's stall is `captions-stale` (warning): the picture and sound go on. */
  type?: RenditionType;
}

/** Seconds a live playlist may go without a new segment; undefined when the rule does not apply. */
export function staleLimitMs(cur: MediaPlaylist, factor: number): number | undefined {
  if (cur.endList || cur.targetDuration === undefined) return undefined;
  return factor * cur.targetDuration * 1000;
}

export function checkStale(i: StaleInput): Observation[] {
  const limit = staleLimitMs(i.cur, i.factor);
  if (limit === undefined) return [];
  const age = i.ageMs;
  if (age <= limit) return [];
  const summary = `no new segment for ${(age / 1000).toFixed(2)} s > ${i.factor} x EXT-X-TARGETDURATION ${i.cur.targetDuration} s (newest is ${lastSn(i.cur)}, first seen ${iso(i.since.fetchedAt)})`;
  return [
    {
      code: i.type === 'subtitles' ? 'captions-stale' : 'playlist-stale',
      severity: i.type === 'subtitles' ? 'warning' : 'critical',
      summary,
      evidence: evidence(summary, [
        { label: 'newest segment first seen', playlist: i.since, tail: 1 },
        { label: 'current', playlist: i.cur, tail: 1 },
      ]),
    },
  ];
}

/**
 * EXT-X-DISCONTINUITY-SEQUENCE (RFC 8216 6.2.2): it changes by exactly the number of EXT-X-DISCONTINUITY
 * tags that slid out of the window with their segments. Code: discontinuity-sequence.
 * A tag before media sequence 0 separates nothing (ffmpeg writes one at the start of every stream and never
 * counts it): it is not expected to be counted.
 */
import { evidence } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation } from '../model.js';

export function checkDiscontinuitySequence(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
): Observation[] {
  if (!prev || cur.mseq < prev.mseq) return [];
  const delta = cur.dseq - prev.dseq;
  // Segments that left the window, as far as the previous playlist shows them.
  const removedKnown = prev.segments.filter((s) => s.sn < cur.mseq);
  const counted = (x: { sn: number; discontinuity: boolean }) => x.discontinuity && x.sn > 0;
  const expected = removedKnown.filter(counted).length;
  // When the window jumped past what we saw, unseen segments may have carried tags too: only a lower bound.
  const partial = cur.mseq > lastSn(prev) + 1;
  const ok = partial ? delta >= expected : delta === expected;
  if (ok) return [];
  const removedSns = removedKnown.filter(counted).map((s) => s.sn);
  const summary =
    `EXT-X-DISCONTINUITY-SEQUENCE went ${prev.dseq} -> ${cur.dseq} (${delta >= 0 ? '+' : ''}${delta}) ` +
    `but ${expected} EXT-X-DISCONTINUITY tag(s) slid out of the window (mseq ${prev.mseq} -> ${cur.mseq})`;
  return [
    {
      code: 'discontinuity-sequence',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        { label: 'previous', playlist: prev, sns: [prev.mseq, ...removedSns.slice(0, 3)] },
        { label: 'current', playlist: cur, sns: [cur.mseq] },
      ]),
    },
  ];
}

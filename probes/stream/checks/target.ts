/**
 * Target duration rules (RFC 8216 4.3.3.1, 6.2.2): every EXTINF rounded to the nearest integer is <= the
 * target duration; the target duration never changes; a live playlist that has started removing segments
 * keeps at least three target durations. Codes: extinf-over-target, target-duration-changed, window-too-short.
 */
import { evidence } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation, windowSeconds } from '../model.js';

/** Only segments new since `prev` (all of them on a first load), so one bad segment is counted once. */
export function checkExtinf(prev: MediaPlaylist | undefined, cur: MediaPlaylist): Observation[] {
  const td = cur.targetDuration;
  if (td === undefined) return [];
  const from = prev ? lastSn(prev) + 1 : cur.mseq;
  const over = cur.segments.filter(
    (s) => s.sn >= from && Number.isFinite(s.duration) && Math.round(s.duration) > td,
  );
  if (over.length === 0) return [];
  const worst = over.reduce((a, b) => (b.duration > a.duration ? b : a));
  const summary = `${over.length} segment(s) with EXTINF over EXT-X-TARGETDURATION ${td} (max ${worst.duration} s at media sequence ${worst.sn})`;
  return [
    {
      code: 'extinf-over-target',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        {
          label: 'current',
          playlist: cur,
          header: ['#EXT-X-TARGETDURATION'],
          sns: over.slice(0, 3).map((s) => s.sn),
        },
      ]),
    },
  ];
}

export function checkTargetDuration(prev: MediaPlaylist | undefined, cur: MediaPlaylist): Observation[] {
  if (!prev || prev.targetDuration === cur.targetDuration) return [];
  const summary = `EXT-X-TARGETDURATION changed from ${prev.targetDuration ?? 'none'} to ${cur.targetDuration ?? 'none'}`;
  const header = ['#EXT-X-TARGETDURATION', '#EXT-X-MEDIA-SEQUENCE'];
  return [
    {
      code: 'target-duration-changed',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        { label: 'previous', playlist: prev, header },
        { label: 'current', playlist: cur, header },
      ]),
    },
  ];
}

export function checkWindow(cur: MediaPlaylist, factor = 3): Observation[] {
  const td = cur.targetDuration;
  // A playlist that has not removed anything yet (mseq 0) is still filling; EVENT playlists never remove.
  if (td === undefined || cur.endList || cur.playlistType === 'EVENT' || cur.mseq === 0) return [];
  const total = windowSeconds(cur);
  if (total + 1e-3 >= factor * td) return [];
  const summary = `live window ${total.toFixed(3)} s (${cur.segments.length} segments) is shorter than ${factor} x EXT-X-TARGETDURATION ${td} = ${factor * td} s`;
  return [
    {
      code: 'window-too-short',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        {
          label: 'current',
          playlist: cur,
          header: ['#EXT-X-TARGETDURATION', '#EXT-X-MEDIA-SEQUENCE'],
          tail: 4,
        },
      ]),
    },
  ];
}

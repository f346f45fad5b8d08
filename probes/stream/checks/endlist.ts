/**
 * EXT-X-ENDLIST in a live stream (RFC 8216 4.3.3.4): it ends the presentation. Mid-event it is an outage for
 * every viewer of that rendition. Code: endlist-in-live.
 */
import { evidence } from '../evidence.js';
import type { MediaPlaylist, Observation } from '../model.js';

/**
 * @param siblingsLive other renditions of the same master are live (no ENDLIST): a first load that already
 *   carries ENDLIST is then a fault of this rendition, not a finished event.
 */
export function checkEndlist(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
  siblingsLive: boolean,
): Observation[] {
  if (!cur.endList) return [];
  if (prev?.endList) return [];
  const header = ['#EXT-X-MEDIA-SEQUENCE', '#EXT-X-PLAYLIST-TYPE', '#EXT-X-ENDLIST'];
  if (prev || siblingsLive) {
    const summary = prev
      ? `EXT-X-ENDLIST appeared in a live playlist (mseq ${cur.mseq})`
      : 'EXT-X-ENDLIST in this rendition while the other renditions are live';
    return [
      {
        code: 'endlist-in-live',
        severity: 'critical',
        summary,
        evidence: evidence(summary, [
          { label: 'previous', playlist: prev, header, tail: 1 },
          { label: 'current', playlist: cur, header, tail: 1 },
        ]),
      },
    ];
  }
  const summary = `playlist already carries EXT-X-ENDLIST at first load: the stream is not live${cur.playlistType ? ` (PLAYLIST-TYPE ${cur.playlistType})` : ''}`;
  return [
    {
      code: 'endlist-in-live',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [{ label: 'current', playlist: cur, header, tail: 1 }]),
    },
  ];
}

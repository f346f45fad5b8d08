/** Crafted media playlists for the unit tests of the checks. */
import { parseMedia } from '../hls/parse.js';
import type { MediaPlaylist } from '../model.js';

export interface Spec {
  mseq: number;
  count: number;
  td?: number;
  dseq?: number;
  /** EXTINF per segment (default td). */
  dur?: (sn: number) => number;
  /** Epoch ms of segment `mseq`'s PDT; omit for no PDT. */
  pdt0?: number;
  /** Extra PDT offset per segment, ms. */
  pdtShift?: (sn: number) => number;
  disc?: number[];
  uri?: (sn: number) => string;
  endlist?: boolean;
  type?: 'EVENT' | 'VOD';
  fetchedAt?: number;
  skip?: number[];
}

export function text(s: Spec): string {
  const td = s.td ?? 2;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    `#EXT-X-TARGETDURATION:${td}`,
    `#EXT-X-MEDIA-SEQUENCE:${s.mseq}`,
  ];
  if (s.dseq !== undefined) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${s.dseq}`);
  if (s.type) lines.push(`#EXT-X-PLAYLIST-TYPE:${s.type}`);
  let t = s.pdt0;
  for (let sn = s.mseq; sn < s.mseq + s.count; sn++) {
    const d = s.dur ? s.dur(sn) : td;
    if (s.skip?.includes(sn)) continue;
    if (s.disc?.includes(sn)) lines.push('#EXT-X-DISCONTINUITY');
    if (t !== undefined)
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(t + (s.pdtShift?.(sn) ?? 0)).toISOString()}`);
    lines.push(`#EXTINF:${d.toFixed(3)},`);
    lines.push(s.uri ? s.uri(sn) : `seg_${sn}.ts`);
    if (t !== undefined) t += d * 1000;
  }
  if (s.endlist) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

export function media(s: Spec): MediaPlaylist {
  const r = parseMedia(text(s), s.fetchedAt ?? 1_700_000_000_000);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function fromText(t: string, fetchedAt = 1_700_000_000_000): MediaPlaylist {
  const r = parseMedia(t, fetchedAt);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export const T0 = Date.parse('2024-05-01T12:00:00.000Z');

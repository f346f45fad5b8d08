/**
 * A small, lossless model of an HLS media playlist: header lines, segments (with the tags that precede each
 * URI) and trailing lines. Faults edit this model and serialise it back.
 */

export interface HlsSegment {
  seq: number;
  uri: string;
  duration: number;
  /** Epoch ms from EXT-X-PROGRAM-DATE-TIME, when present. */
  pdt?: number;
  /** Tag lines before the URI, in order (EXTINF, PROGRAM-DATE-TIME, DISCONTINUITY, ...). */
  tags: string[];
}

export interface MediaPlaylist {
  header: string[];
  segments: HlsSegment[];
  trailer: string[];
  mediaSequence: number;
  discontinuitySequence: number;
  targetDuration: number;
  endList: boolean;
}

export function isMediaPlaylist(text: string): boolean {
  return /#EXTINF:|#EXT-X-TARGETDURATION:/.test(text);
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split(/\r?\n/);
  const header: string[] = [];
  const segments: HlsSegment[] = [];
  const trailer: string[] = [];
  let mediaSequence = 0;
  let discontinuitySequence = 0;
  let targetDuration = 0;
  let endList = false;
  let pending: string[] = [];
  let inSegments = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) mediaSequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:'))
      discontinuitySequence = Number(line.slice(30));
    else if (line.startsWith('#EXT-X-TARGETDURATION:')) targetDuration = Number(line.slice(22));
    if (line === '#EXT-X-ENDLIST') {
      endList = true;
      trailer.push(line);
      continue;
    }
    if (
      line.startsWith('#EXTINF:') ||
      line.startsWith('#EXT-X-PROGRAM-DATE-TIME:') ||
      line === '#EXT-X-DISCONTINUITY'
    )
      inSegments = true;
    if (line.startsWith('#')) {
      if (inSegments) pending.push(line);
      else header.push(line);
      continue;
    }
    const inf = pending.find((t) => t.startsWith('#EXTINF:'));
    const pdtTag = pending.find((t) => t.startsWith('#EXT-X-PROGRAM-DATE-TIME:'));
    const pdt = pdtTag ? Date.parse(pdtTag.slice(25)) : undefined;
    segments.push({
      seq: mediaSequence + segments.length,
      uri: line,
      duration: inf ? Number.parseFloat(inf.slice(8)) : 0,
      ...(pdt !== undefined && Number.isFinite(pdt) ? { pdt } : {}),
      tags: pending,
    });
    pending = [];
  }
  trailer.unshift(...pending);
  return { header, segments, trailer, mediaSequence, discontinuitySequence, targetDuration, endList };
}

/** Serialises the model, rewriting the sequence headers from the model's fields. */
export function serializeMediaPlaylist(p: MediaPlaylist): string {
  const header = p.header.filter(
    (l) => !l.startsWith('#EXT-X-MEDIA-SEQUENCE:') && !l.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:'),
  );
  const at = Math.max(
    1,
    header.findIndex((l) => l.startsWith('#EXT-X-TARGETDURATION:')),
  );
  header.splice(at + 1, 0, `#EXT-X-MEDIA-SEQUENCE:${p.mediaSequence}`);
  if (p.discontinuitySequence > 0)
    header.splice(at + 2, 0, `#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`);
  const out = [...header];
  for (const s of p.segments) out.push(...s.tags, s.uri);
  const trailer = p.trailer.filter((l) => l !== '#EXT-X-ENDLIST');
  out.push(...trailer);
  if (p.endList) out.push('#EXT-X-ENDLIST');
  return `${out.join('\n')}\n`;
}

/** ISO 8601 with milliseconds, UTC. */
export function formatPdt(ms: number): string {
  return new Date(ms).toISOString();
}

/** Highest media sequence number listed (or mediaSequence - 1 when empty). */
export function lastSequence(p: MediaPlaylist): number {
  return p.mediaSequence + p.segments.length - 1;
}

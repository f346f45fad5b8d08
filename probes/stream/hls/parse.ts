import { numbering } from '../checks/sequence.js';
import { redactUri } from '../evidence.js';
import type {
  HlsSegment,
  MasterEntry,
  MasterPlaylist,
  MediaPlaylist,
  ParseResult,
  RenditionType,
} from '../model.js';
import { m3u8 } from '../vendor.js';

const MAX_WARNINGS = 5;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function resolve(uri: string, base: string): string | undefined {
  try {
    return new URL(uri, base).href;
  } catch {
    return undefined;
  }
}

function runParser(
  text: string,
): { manifest: Record<string, unknown>; warnings: string[] } | { error: string } {
  const warnings: string[] = [];
  try {
    const parser = new m3u8.Parser();
    parser.on('warn', (e) => {
      if (warnings.length < MAX_WARNINGS) warnings.push(String(e?.message ?? 'warning').slice(0, 200));
    });
    parser.push(text);
    parser.end();
    return { manifest: parser.manifest ?? {}, warnings };
  } catch (err) {
    return { error: `m3u8-parser threw: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
  }
}

/** True when the text is a multivariant (master) playlist rather than a media playlist. */
export function looksLikeMaster(text: string): boolean {
  return text.includes('#EXT-X-STREAM-INF') || (text.includes('#EXT-X-MEDIA:') && !text.includes('#EXTINF'));
}

function checkHeader(text: string): string | undefined {
  // RFC 8216 4.3.1.1: the first line MUST be #EXTM3U. A BOM is tolerated (common, harmless).
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  if (!text.startsWith('#EXTM3U', start)) {
    const first = text.slice(start, start + 60).split('\n')[0] ?? '';
    return `not an HLS playlist (first line ${JSON.stringify(first)})`;
  }
  return undefined;
}

/**
 * Segments of one media playlist beyond which it is refused as `manifest-too-large` (counted before
 * parsing): 20 000 two-second segments are an 11-hour window, and every reload of a longer list costs the
 * agent its conformance checks over all of them.
 */
export const MAX_MEDIA_SEGMENTS = 20_000;

function countSegments(text: string): number {
  let n = 0;
  for (let i = text.indexOf('#EXTINF'); i >= 0; i = text.indexOf('#EXTINF', i + 7)) n++;
  return n;
}

export function parseMedia(text: string, fetchedAt: number): ParseResult<MediaPlaylist> {
  const bad = checkHeader(text);
  if (bad) return { ok: false, error: bad };
  const count = countSegments(text);
  if (count > MAX_MEDIA_SEGMENTS)
    return { ok: false, error: `manifest-too-large: ${count} segments (> ${MAX_MEDIA_SEGMENTS})` };
  const r = runParser(text);
  if ('error' in r) return { ok: false, error: r.error };
  const m = r.manifest;
  const rawSegs = Array.isArray(m.segments) ? (m.segments as unknown[]) : [];
  const td = num(m.targetDuration);
  const mseqRaw = num(m.mediaSequence);
  const mseq = mseqRaw !== undefined && Number.isSafeInteger(mseqRaw) && mseqRaw >= 0 ? mseqRaw : 0;
  const dseqRaw = num(m.discontinuitySequence);
  const dseq = dseqRaw !== undefined && Number.isSafeInteger(dseqRaw) && dseqRaw >= 0 ? dseqRaw : 0;
  const segments: HlsSegment[] = [];
  for (let i = 0; i < rawSegs.length; i++) {
    const s = obj(rawSegs[i]) ?? {};
    const duration = num(s.duration);
    const pdt = num(s.programDateTime);
    const br = obj(s.byterange);
    const len = br ? num(br.length) : undefined;
    const off = br ? num(br.offset) : undefined;
    segments.push({
      sn: mseq + i,
      uri: str(s.uri) ?? '',
      duration: duration !== undefined && duration >= 0 ? duration : Number.NaN,
      pdt,
      pdtExplicit: typeof s.dateTimeString === 'string' && pdt !== undefined,
      discontinuity: s.discontinuity === true,
      byterange: len !== undefined && len >= 0 ? { length: len, offset: off ?? 0 } : undefined,
    });
  }
  if (td === undefined || td <= 0) r.warnings.push('EXT-X-TARGETDURATION missing or invalid');
  return {
    ok: true,
    value: {
      kind: 'media',
      text,
      fetchedAt,
      targetDuration: td !== undefined && td > 0 ? td : undefined,
      mseq,
      dseq,
      endList: m.endList === true,
      playlistType: str(m.playlistType),
      segments,
      numbering: numbering(segments),
      warnings: r.warnings.slice(0, MAX_WARNINGS),
    },
  };
}

const RENDITION_TYPES: Array<[string, RenditionType]> = [
  ['AUDIO', 'audio'],
  ['SUBTITLES', 'subtitles'],
  ['VIDEO', 'video'],
];

/**
 * Every variant (I-frame playlists excluded) and every alternative rendition with a URI, each once,
 * resolved against the master URL.
 */
export function parseMaster(text: string, fetchedAt: number, baseUrl: string): ParseResult<MasterPlaylist> {
  const bad = checkHeader(text);
  if (bad) return { ok: false, error: bad };
  const r = runParser(text);
  if ('error' in r) return { ok: false, error: r.error };
  const m = r.manifest;
  const entries: MasterEntry[] = [];
  const seen = new Set<string>();
  const add = (uri: string | undefined, e: Omit<MasterEntry, 'name' | 'url'>) => {
    if (!uri) return;
    const url = resolve(uri, baseUrl);
    if (!url || seen.has(url) || !/^https?:/.test(url)) return;
    seen.add(url);
    entries.push({ ...e, name: redactUri(uri).slice(0, 500), url });
  };
  const playlists = Array.isArray(m.playlists) ? (m.playlists as unknown[]) : [];
  for (const p of playlists) {
    const po = obj(p);
    if (!po) continue;
    const attrs = obj(po.attributes) ?? {};
    const avg = num(attrs['AVERAGE-BANDWIDTH']);
    add(str(po.uri), {
      type: 'video',
      bandwidth: num(attrs.BANDWIDTH),
      ...(avg !== undefined ? { averageBandwidth: avg } : {}),
      group: 'video',
    });
  }
  const groups = obj(m.mediaGroups) ?? {};
  for (const [key, type] of RENDITION_TYPES) {
    const byGroup = obj(groups[key]) ?? {};
    for (const [groupId, names] of Object.entries(byGroup)) {
      for (const rendition of Object.values(obj(names) ?? {})) {
        const ro = obj(rendition);
        if (ro) add(str(ro.uri), { type, group: `${type}:${groupId}` });
      }
    }
  }
  return { ok: true, value: { kind: 'master', text, fetchedAt, entries, warnings: r.warnings } };
}

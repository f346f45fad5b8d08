/**
 * Evidence: the relevant lines of both playlists, bounded. Built only when a check fires, from the raw
 * text (m3u8-parser keeps no line numbers), with query strings redacted (signed URLs carry credentials).
 */
import { redactUrl } from '../../shared/log.js';
import type { MediaPlaylist } from './model.js';

/** Finding.evidence max is 4000; stay clear of it. */
export const MAX_EVIDENCE = 3800;
const MAX_LINE = 240;
const MAX_BLOCK = 1700;

/** Redacts query values of absolute or relative URIs. */
export function redactUri(uri: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) return redactUrl(uri);
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const keys = uri
    .slice(q + 1)
    .split('&')
    .map((kv) => kv.split('=')[0])
    .filter(Boolean);
  return `${uri.slice(0, q)}?${keys.map((k) => `${k}=redacted`).join('&')}`;
}

function redactLine(line: string): string {
  let out: string;
  if (line.startsWith('#')) out = line.replace(/URI="([^"]*)"/g, (_m, u: string) => `URI="${redactUri(u)}"`);
  else out = redactUri(line);
  return out.length > MAX_LINE ? `${out.slice(0, MAX_LINE)}…` : out;
}

const HEADER_TAGS = [
  '#EXT-X-TARGETDURATION',
  '#EXT-X-MEDIA-SEQUENCE',
  '#EXT-X-DISCONTINUITY-SEQUENCE',
  '#EXT-X-PLAYLIST-TYPE',
  '#EXT-X-ENDLIST',
];
/** Segment-level tags worth showing (EXT-X-PART and friends are left out: LL-HLS lists dozens). */
const SEGMENT_TAGS = [
  '#EXTINF',
  '#EXT-X-PROGRAM-DATE-TIME',
  '#EXT-X-DISCONTINUITY',
  '#EXT-X-BYTERANGE',
  '#EXT-X-GAP',
  '#EXT-X-MAP',
];

interface LineIndex {
  lines: string[];
  header: Map<string, number>;
  /** Per segment (by index): the line numbers of its shown tags and its URI line. */
  segs: number[][];
}

const indexCache = new WeakMap<MediaPlaylist, LineIndex>();

function tagName(line: string): string {
  const c = line.indexOf(':');
  return c < 0 ? line : line.slice(0, c);
}

export function lineIndex(p: MediaPlaylist): LineIndex {
  const hit = indexCache.get(p);
  if (hit) return hit;
  const lines = p.text.split(/\r?\n/);
  const header = new Map<string, number>();
  const segs: number[][] = [];
  let pending: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const tag = tagName(line);
      if (HEADER_TAGS.includes(tag)) {
        if (!header.has(tag)) header.set(tag, i);
      } else if (SEGMENT_TAGS.includes(tag)) pending.push(i);
      continue;
    }
    pending.push(i);
    segs.push(pending);
    pending = [];
  }
  const idx = { lines, header, segs };
  indexCache.set(p, idx);
  return idx;
}

export interface EvidenceBlock {
  label: string;
  playlist: MediaPlaylist | undefined;
  /** Header tags to show (default: target duration, media sequence, discontinuity sequence, endlist). */
  header?: string[];
  /** Media sequence numbers of the segments to show. */
  sns?: number[];
  /** Also show the last n segments. */
  tail?: number;
}

/** ISO time that never throws (dates from the network can be out of range). */
export function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function renderBlock(b: EvidenceBlock): string {
  const p = b.playlist;
  if (!p) return `--- ${b.label}: (none)`;
  const idx = lineIndex(p);
  const out: string[] = [
    `--- ${b.label} (fetched ${iso(p.fetchedAt)}, mseq ${p.mseq}, ${p.segments.length} segments)`,
  ];
  const headerTags = b.header ?? [
    '#EXT-X-TARGETDURATION',
    '#EXT-X-MEDIA-SEQUENCE',
    '#EXT-X-DISCONTINUITY-SEQUENCE',
    '#EXT-X-ENDLIST',
  ];
  for (const tag of headerTags) {
    const i = idx.header.get(tag);
    if (i !== undefined) out.push(redactLine((idx.lines[i] ?? '').trim()));
  }
  const want = new Set<number>();
  for (const sn of b.sns ?? []) {
    const i = sn - p.mseq;
    if (i >= 0 && i < idx.segs.length) want.add(i);
  }
  const tail = Math.min(b.tail ?? 0, idx.segs.length);
  for (let i = idx.segs.length - tail; i < idx.segs.length; i++) want.add(i);
  const order = [...want].sort((a, z) => a - z).slice(0, 12);
  let prev = -2;
  for (const i of order) {
    if (prev >= 0 && i !== prev + 1) out.push('…');
    for (const li of idx.segs[i] ?? []) out.push(redactLine((idx.lines[li] ?? '').trim()));
    prev = i;
  }
  let text = out.join('\n');
  if (text.length > MAX_BLOCK) text = `${text.slice(0, MAX_BLOCK)}\n…(truncated)`;
  return text;
}

/** summary + blocks, capped at MAX_EVIDENCE characters. */
export function evidence(summary: string, blocks: EvidenceBlock[] = [], extra?: string): string {
  const parts = [summary.slice(0, 500)];
  if (extra) parts.push(extra.slice(0, 1200));
  for (const b of blocks) parts.push(renderBlock(b));
  const text = parts.join('\n');
  return text.length > MAX_EVIDENCE ? `${text.slice(0, MAX_EVIDENCE)}\n…(truncated)` : text;
}

/** Bounds a free-form string (e.g. an MPD excerpt) for evidence. */
export function clip(s: string, n = 1200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

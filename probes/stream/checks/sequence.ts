/**
 * Media sequence rules (RFC 8216 6.2.2, rfc8216bis): the media sequence never decreases; a segment keeps its
 * URI for as long as it keeps its media sequence number; the window slides without holes.
 * Codes: mseq-regression, playlist-content-changed, segment-continuity.
 */
import { evidence } from '../evidence.js';
import {
  type HlsSegment,
  lastSn,
  type MediaPlaylist,
  type Observation,
  segmentBySn,
  windowSeconds,
} from '../model.js';

export interface SequenceContext {
  /** ms between the two fetches: a hole is only a fault when the window should have covered it. */
  elapsedMs: number;
}

export function checkMediaSequence(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
  ctx: SequenceContext,
): Observation[] {
  const out: Observation[] = [];
  if (prev) {
    if (cur.mseq < prev.mseq) {
      const summary = `EXT-X-MEDIA-SEQUENCE went back from ${prev.mseq} to ${cur.mseq}`;
      return [
        {
          code: 'mseq-regression',
          severity: 'critical',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, sns: [prev.mseq], tail: 1 },
            { label: 'current', playlist: cur, sns: [cur.mseq], tail: 1 },
          ]),
        },
      ];
    }
    if (cur.mseq === prev.mseq) {
      const changed = firstUriMismatch(prev, cur);
      if (changed !== undefined) {
        const summary = `media sequence ${cur.mseq} unchanged but segment ${changed} changed URI`;
        out.push({
          code: 'playlist-content-changed',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, sns: [changed] },
            { label: 'current', playlist: cur, sns: [changed] },
          ]),
        });
      } else if (cur.segments.length < prev.segments.length) {
        const summary = `media sequence ${cur.mseq} unchanged but the playlist lost ${prev.segments.length - cur.segments.length} segment(s) at its end`;
        out.push({
          code: 'playlist-content-changed',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, tail: 2 },
            { label: 'current', playlist: cur, tail: 1 },
          ]),
        });
      }
    } else {
      // The window slid: the overlap must match, and the window must not skip segments we never saw.
      const changed = firstUriMismatch(prev, cur);
      if (changed !== undefined) {
        const summary = `segment ${changed} changed URI while the window slid (mseq ${prev.mseq} -> ${cur.mseq})`;
        out.push({
          code: 'segment-continuity',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, sns: [changed - 1, changed] },
            { label: 'current', playlist: cur, sns: [changed - 1, changed] },
          ]),
        });
      } else if (cur.mseq > lastSn(prev) + 1 && ctx.elapsedMs < windowSeconds(prev) * 1000) {
        const missed = cur.mseq - lastSn(prev) - 1;
        const summary = `window jumped: ${missed} segment(s) (${lastSn(prev) + 1}..${cur.mseq - 1}) were never listed while the previous window (${windowSeconds(prev).toFixed(1)} s) was fetched ${(ctx.elapsedMs / 1000).toFixed(1)} s earlier`;
        out.push({
          code: 'segment-continuity',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, tail: 1 },
            { label: 'current', playlist: cur, sns: [cur.mseq] },
          ]),
        });
      } else if (lastSn(cur) < lastSn(prev)) {
        const summary = `live edge went back from segment ${lastSn(prev)} to ${lastSn(cur)}`;
        out.push({
          code: 'segment-continuity',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            { label: 'previous', playlist: prev, tail: 1 },
            { label: 'current', playlist: cur, tail: 1 },
          ]),
        });
      }
    }
  }
  const gap = numberingGap(prev, cur);
  if (gap && !out.some((o) => o.code === 'segment-continuity')) {
    const summary = `segment numbering skips from ${gap.fromNum} to ${gap.toNum} at media sequence ${gap.sn} (a segment is missing from the playlist)`;
    out.push({
      code: 'segment-continuity',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        { label: 'previous', playlist: prev, tail: 1 },
        { label: 'current', playlist: cur, sns: [gap.sn - 1, gap.sn] },
      ]),
    });
  }
  return out;
}

/** First media sequence number present in both playlists whose URI differs. */
function firstUriMismatch(prev: MediaPlaylist, cur: MediaPlaylist): number | undefined {
  const from = Math.max(prev.mseq, cur.mseq);
  const to = Math.min(lastSn(prev), lastSn(cur));
  for (let sn = from; sn <= to; sn++) {
    if (segmentBySn(prev, sn)?.uri !== segmentBySn(cur, sn)?.uri) return sn;
  }
  return undefined;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * The last run of digits in the URI's path (at most 15) and what surrounds it. A hand scan rather than a
 * regex: it runs on every segment of every reload (20 000 of them in the largest playlist accepted).
 */
export function splitNum(uri: string): { stem: string; n: number } | undefined {
  const q = uri.indexOf('?');
  const end = q < 0 ? uri.length : q;
  let j = end - 1;
  while (j >= 0 && !isDigit(uri.charCodeAt(j))) j--;
  if (j < 0) return undefined;
  let i = j;
  while (i > 0 && isDigit(uri.charCodeAt(i - 1)) && j - i < 14) i--;
  return { stem: `${uri.slice(0, i)}#${uri.slice(j + 1, end)}`, n: Number(uri.slice(i, j + 1)) };
}

export interface Numbering {
  /** Neighbour pairs with the same file-name stem outside a discontinuity, and those stepping by exactly 1. */
  pairs: number;
  ones: number;
  /** The first pair that steps by more than 1. */
  jump?: { sn: number; fromNum: number; toNum: number };
}

/**
 * One pass over the segment file numbers, done when the playlist is parsed (in the parse worker for a large
 * one): with 20 000 segments this costs tens of ms, which would otherwise land on the agent's event loop.
 */
export function numbering(segs: readonly HlsSegment[]): Numbering {
  let ones = 0;
  let pairs = 0;
  let jump: Numbering['jump'];
  let a = splitNum(segs[0]?.uri ?? '');
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    const b = splitNum(seg.uri);
    if (a && b && a.stem === b.stem && !seg.discontinuity) {
      pairs++;
      const d = b.n - a.n;
      if (d === 1) ones++;
      else if (d > 1 && !jump) jump = { sn: seg.sn, fromNum: a.n, toNum: b.n };
    }
    a = b;
  }
  return jump ? { pairs, ones, jump } : { pairs, ones };
}

/**
 * Heuristic for a segment dropped from the playlist when the packager numbers its files (seg_1041.ts): the
 * file number advances by exactly 1 between most neighbours, and a new segment breaks that (outside a
 * discontinuity). Only a break at a segment new since `prev` is reported, so a hole is reported once.
 */
export function numberingGap(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
): { sn: number; fromNum: number; toNum: number } | undefined {
  if (cur.segments.length < 3) return undefined;
  const { pairs, ones, jump } = cur.numbering ?? numbering(cur.segments);
  const newFrom = prev ? lastSn(prev) + 1 : cur.mseq + 1;
  // Require an established +1 pattern: all other neighbour pairs step by exactly one (so at most one pair,
  // the jump, does not).
  if (!jump || jump.sn < newFrom || pairs < 3 || ones < pairs - 1) return undefined;
  return jump;
}

/**
 * Media sequence rules (RFC 8216 6.2.2, rfc8216bis): the media sequence never decreases; a segment keeps its
 * URI for as long as it keeps its media sequence number; the window slides without holes.
 * Codes: mseq-regression, playlist-content-changed, segment-continuity.
 */
import { evidence } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation, segmentBySn, windowSeconds } from '../model.js';

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

const TRAILING_NUM = /^(.*?)(\d{1,15})(\D*)$/;

function splitNum(uri: string): { stem: string; n: number } | undefined {
  const path = uri.split('?')[0] ?? '';
  const m = TRAILING_NUM.exec(path);
  if (!m) return undefined;
  return { stem: `${m[1]}#${m[3]}`, n: Number(m[2]) };
}

/**
 * Heuristic for a segment dropped from the playlist when the packager numbers its files (seg_1041.ts): the
 * file number advances by exactly 1 between most neighbours, and a new segment breaks that (outside a
 * discontinuity). Only pairs ending in a segment new since `prev` are looked at, so a hole is reported once.
 */
export function numberingGap(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
): { sn: number; fromNum: number; toNum: number } | undefined {
  const segs = cur.segments;
  if (segs.length < 3) return undefined;
  let ones = 0;
  let pairs = 0;
  let firstBreak: { sn: number; fromNum: number; toNum: number } | undefined;
  const newFrom = prev ? lastSn(prev) + 1 : cur.mseq + 1;
  let a = splitNum(segs[0]?.uri ?? '');
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    const b = splitNum(seg.uri);
    if (a && b && a.stem === b.stem && !seg.discontinuity) {
      pairs++;
      const d = b.n - a.n;
      if (d === 1) ones++;
      else if (d > 1 && !firstBreak && seg.sn >= newFrom)
        firstBreak = { sn: seg.sn, fromNum: a.n, toNum: b.n };
    }
    a = b;
  }
  // Require an established +1 pattern: all other neighbour pairs step by exactly one.
  if (!firstBreak || pairs < 3 || ones < pairs - 1) return undefined;
  return firstBreak;
}

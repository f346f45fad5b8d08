/**
 * EXT-X-PROGRAM-DATE-TIME consistency: an explicit PDT must equal the previous segment's PDT plus its EXTINF
 * (outside a discontinuity), and a segment keeps its PDT across reloads. Code: pdt-drift.
 * m3u8-parser extrapolates programDateTime from the first PDT; `pdtExplicit` tells the tagged ones apart.
 */
import { evidence } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation, segmentBySn } from '../model.js';

export function checkPdt(
  prev: MediaPlaylist | undefined,
  cur: MediaPlaylist,
  toleranceMs: number,
): Observation[] {
  const out: Observation[] = [];
  // 1. Within the playlist, for segments new since prev.
  const from = prev ? lastSn(prev) + 1 : cur.mseq + 1;
  let worst: { sn: number; diff: number } | undefined;
  for (let i = 1; i < cur.segments.length; i++) {
    const seg = cur.segments[i]!;
    const before = cur.segments[i - 1]!;
    if (seg.sn < from || !seg.pdtExplicit || seg.discontinuity || seg.pdt === undefined) continue;
    if (before.pdt === undefined || !Number.isFinite(before.duration)) continue;
    const diff = seg.pdt - (before.pdt + before.duration * 1000);
    if (Math.abs(diff) > toleranceMs && (!worst || Math.abs(diff) > Math.abs(worst.diff))) {
      worst = { sn: seg.sn, diff };
    }
  }
  if (worst) {
    const summary = `EXT-X-PROGRAM-DATE-TIME of segment ${worst.sn} is ${fmt(worst.diff)} off the previous PDT + EXTINF (tolerance ${toleranceMs} ms)`;
    out.push({
      code: 'pdt-drift',
      severity: 'warning',
      summary,
      evidence: evidence(summary, [
        { label: 'previous', playlist: prev, header: ['#EXT-X-MEDIA-SEQUENCE'], tail: 1 },
        { label: 'current', playlist: cur, header: ['#EXT-X-MEDIA-SEQUENCE'], sns: [worst.sn - 1, worst.sn] },
      ]),
    });
  }
  // 2. Across reloads: the same segment must keep its date.
  if (prev) {
    let moved: { sn: number; diff: number } | undefined;
    const a = Math.max(prev.mseq, cur.mseq);
    const z = Math.min(lastSn(prev), lastSn(cur));
    for (let sn = a; sn <= z; sn++) {
      const p = segmentBySn(prev, sn);
      const c = segmentBySn(cur, sn);
      if (p?.pdt === undefined || c?.pdt === undefined || p.uri !== c.uri) continue;
      const diff = c.pdt - p.pdt;
      if (Math.abs(diff) > toleranceMs && (!moved || Math.abs(diff) > Math.abs(moved.diff)))
        moved = { sn, diff };
    }
    if (moved) {
      const summary = `segment ${moved.sn} kept its URI but its EXT-X-PROGRAM-DATE-TIME moved by ${fmt(moved.diff)} between reloads`;
      out.push({
        code: 'pdt-drift',
        severity: 'warning',
        summary,
        evidence: evidence(summary, [
          { label: 'previous', playlist: prev, header: ['#EXT-X-MEDIA-SEQUENCE'], sns: [moved.sn] },
          { label: 'current', playlist: cur, header: ['#EXT-X-MEDIA-SEQUENCE'], sns: [moved.sn] },
        ]),
      });
    }
  }
  return out;
}

function fmt(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${Math.round(ms)} ms`;
}

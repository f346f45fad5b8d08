/**
 * Media sequence drift between renditions of one master: renditions that share a timeline (same type,
 * group and target duration) should list the same newest media sequence number, give or take a reload.
 * The reference is the upper median, so one stuck or jumping rendition is named and the healthy ones are
 * not. Code: variant-mseq-drift.
 */
import { evidence } from '../evidence.js';
import { lastSn, type MediaPlaylist, type Observation } from '../model.js';

export interface DriftEntry {
  variant: string;
  group: string;
  playlist: MediaPlaylist;
  /** ms since this playlist was fetched: renditions reloaded at different moments are compared at one. */
  ageMs?: number;
}

/**
 * Newest media sequence number, projected to the comparison instant at one segment per target duration, at
 * most 1.5 segments ahead (what a healthy rendition can owe; a stuck one still falls behind).
 */
function edge(e: DriftEntry): number {
  const td = e.playlist.targetDuration ?? 0;
  return lastSn(e.playlist) + (td > 0 && e.ageMs ? Math.min(1.5, Math.max(0, e.ageMs / (td * 1000))) : 0);
}

export function checkVariantDrift(
  entries: DriftEntry[],
  toleranceSegments: number,
): Array<{ variant: string; obs: Observation }> {
  const groups = new Map<string, DriftEntry[]>();
  for (const e of entries) {
    if (e.playlist.endList || e.playlist.targetDuration === undefined || e.playlist.segments.length === 0)
      continue;
    const key = `${e.group}|${e.playlist.targetDuration}`;
    const list = groups.get(key);
    if (list) list.push(e);
    else groups.set(key, [e]);
  }
  const out: Array<{ variant: string; obs: Observation }> = [];
  for (const list of groups.values()) {
    if (list.length < 2) continue;
    const sorted = [...list].sort((a, b) => edge(a) - edge(b));
    const refEntry = sorted[Math.floor(sorted.length / 2)]!;
    const ref = edge(refEntry);
    for (const e of list) {
      const d = edge(e) - ref;
      if (Math.abs(d) <= toleranceSegments) continue;
      const off = Math.round(d * 10) / 10;
      const summary = `newest media sequence ${lastSn(e.playlist)} is ${off > 0 ? '+' : ''}${off} segments off the other renditions (${lastSn(refEntry.playlist)} in ${refEntry.variant}, compared at the same instant; tolerance ${toleranceSegments})`;
      out.push({
        variant: e.variant,
        obs: {
          code: 'variant-mseq-drift',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            {
              label: `this rendition ${e.variant}`,
              playlist: e.playlist,
              header: ['#EXT-X-MEDIA-SEQUENCE'],
              tail: 1,
            },
            {
              label: `reference ${refEntry.variant}`,
              playlist: refEntry.playlist,
              header: ['#EXT-X-MEDIA-SEQUENCE'],
              tail: 1,
            },
          ]),
        },
      });
    }
  }
  return out;
}

/** Discontinuity sequence number of segment `sn`: EXT-X-DISCONTINUITY-SEQUENCE + tags up to and including it. */
export function discontinuityNumber(p: MediaPlaylist, sn: number): number | undefined {
  const i = sn - p.mseq;
  if (i < 0 || i >= p.segments.length) return undefined;
  let n = p.dseq;
  // (a tag before media sequence 0 separates nothing and is not counted, see discontinuity.ts)
  for (let j = 0; j <= i; j++) if (p.segments[j]!.discontinuity && p.segments[j]!.sn > 0) n++;
  return n;
}

/**
 * RFC 8216 6.2.4: matching content in variant streams MUST have matching discontinuity sequence numbers. At
 * the newest media sequence number every rendition of a group lists, the majority's number is the
 * reference; a rendition with another number (a discontinuity only it has) is named. No majority, no verdict.
 * Code: discontinuity-sequence.
 */
export function checkVariantDiscontinuity(
  entries: DriftEntry[],
): Array<{ variant: string; obs: Observation }> {
  const groups = new Map<string, DriftEntry[]>();
  for (const e of entries) {
    if (e.playlist.targetDuration === undefined || e.playlist.segments.length === 0) continue;
    const key = `${e.group}|${e.playlist.targetDuration}`;
    const list = groups.get(key);
    if (list) list.push(e);
    else groups.set(key, [e]);
  }
  const out: Array<{ variant: string; obs: Observation }> = [];
  for (const list of groups.values()) {
    if (list.length < 2) continue;
    const sn = Math.min(...list.map((e) => lastSn(e.playlist)));
    if (list.some((e) => e.playlist.mseq > sn)) continue;
    const nums = list.map((e) => discontinuityNumber(e.playlist, sn)!);
    const tally = new Map<number, number>();
    for (const n of nums) tally.set(n, (tally.get(n) ?? 0) + 1);
    const [ref, votes] = [...tally.entries()].sort((a, b) => b[1] - a[1])[0]!;
    if (votes * 2 <= list.length) continue;
    const refEntry = list[nums.indexOf(ref)]!;
    list.forEach((e, i) => {
      if (nums[i] === ref) return;
      const summary = `segment ${sn} has discontinuity sequence number ${nums[i]} here but ${ref} in ${refEntry.variant} (and ${votes - 1} other rendition(s)): renditions disagree on discontinuities`;
      const header = ['#EXT-X-MEDIA-SEQUENCE', '#EXT-X-DISCONTINUITY-SEQUENCE'];
      const discSns = (p: MediaPlaylist) =>
        p.segments.filter((s) => s.discontinuity && s.sn <= sn).map((s) => s.sn);
      out.push({
        variant: e.variant,
        obs: {
          code: 'discontinuity-sequence',
          severity: 'warning',
          summary,
          evidence: evidence(summary, [
            {
              label: `this rendition ${e.variant}`,
              playlist: e.playlist,
              header,
              sns: [...discSns(e.playlist).slice(-2), sn],
            },
            {
              label: `reference ${refEntry.variant}`,
              playlist: refEntry.playlist,
              header,
              sns: [...discSns(refEntry.playlist).slice(-2), sn],
            },
          ]),
        },
      });
    });
  }
  return out;
}

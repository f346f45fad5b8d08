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
    const sorted = list.map((e) => lastSn(e.playlist)).sort((a, b) => a - b);
    const ref = sorted[Math.floor(sorted.length / 2)]!;
    const refEntry = list.find((e) => lastSn(e.playlist) === ref)!;
    for (const e of list) {
      const d = lastSn(e.playlist) - ref;
      if (Math.abs(d) <= toleranceSegments) continue;
      const summary = `newest media sequence ${lastSn(e.playlist)} is ${d > 0 ? '+' : ''}${d} segments off the other renditions (${ref} in ${refEntry.variant}; tolerance ${toleranceSegments})`;
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

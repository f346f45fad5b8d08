/**
 * Stage 3, quorum: one flaky probe location must not page. A target's rule is active when at least N
 * regions breach (quorum.regions), or at least P % of the regions that count (quorum.percent). Regions
 * count when they have a figure and min_reports reports and are not inhibited. `held`: the quorum would be
 * met if inhibited regions counted — a firing alert then stays firing (no resolve notice because our own
 * agent died), but a new one never fires from them.
 */
import { alertLabels, fingerprint, renderAnnotations } from './fingerprint.js';
import type { Labels, Quorum } from './schema.js';
import type { Candidate, RegionSample, TargetSample } from './types.js';

/** Regions needed out of `counted` regions with a say. */
export function needed(q: Quorum, counted: number): number {
  if (q.regions !== undefined) return q.regions;
  return Math.max(1, Math.ceil(((q.percent ?? 100) / 100) * counted - 1e-9));
}

export interface QuorumVerdict {
  active: boolean;
  held: boolean;
  need: number;
  breaching: number;
  regions: number;
}

export function verdict(q: Quorum, regions: RegionSample[]): QuorumVerdict {
  const counted = regions.filter((r) => r.counted && !r.inhibited);
  const breaching = counted.filter((r) => r.breaching).length;
  const need = needed(q, counted.length);
  const active = counted.length > 0 && breaching >= need;
  let held = false;
  if (!active) {
    const withInhibited = regions.filter((r) => r.counted);
    const all = withInhibited.filter((r) => r.breaching).length;
    held = all > breaching && all >= needed(q, withInhibited.length);
  }
  return { active, held, need, breaching, regions: counted.length };
}

/**
 * A candidate per target sample whose condition holds (active) or is held; the rest produce nothing
 * (the state stage treats an evaluated target without a candidate as "condition gone").
 */
export function quorum(
  samples: TargetSample[],
  targetLabels: (target: string) => Labels | undefined,
): Candidate[] {
  const out: Candidate[] = [];
  for (const s of samples) {
    const v = verdict(s.rule.quorum, s.regions);
    if (!v.active && !v.held) continue;
    const labels = alertLabels(s.rule, { target: s.target }, targetLabels(s.target));
    // The headline value: the worst region that breaches (else the worst region) for the comparator.
    const pick = s.regions.filter((r) => r.breaching && !r.inhibited);
    const pool = (pick.length ? pick : s.regions).filter((r) => r.value !== null);
    const up = s.rule.op === '>' || s.rule.op === '>=';
    const value = pool.length
      ? pool.reduce(
          (a, r) => ((up ? (r.value as number) > a : (r.value as number) < a) ? (r.value as number) : a),
          pool[0]?.value as number,
        )
      : null;
    out.push({
      rule: s.rule,
      fingerprint: fingerprint(labels),
      labels,
      annotations: renderAnnotations(s.rule.annotations, { labels, value, threshold: s.threshold }),
      active: v.active,
      held: v.held,
      value,
      threshold: s.threshold,
      evidence: {
        window: s.rule.window,
        quorum: { need: v.need, breaching: v.breaching, regions: v.regions },
        regions: s.regions
          .map((r) => ({
            region: r.region,
            value: r.value,
            breaching: r.breaching,
            ...(r.inhibited ? { inhibited: r.inhibited } : {}),
            reports: r.reports,
            sample_reports: r.sampleReports,
          }))
          .sort((a, b) => a.region.localeCompare(b.region)),
      },
    });
  }
  return out;
}

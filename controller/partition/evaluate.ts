import type { MetricMask, SummaryGroup, SummaryQuery } from '../aggregate/aggregator.js';
import { type EvaluateInput, evaluate, readRows } from '../alerting/evaluate.js';
import type { Rule } from '../alerting/schema.js';
import type { RegionSample, TargetSample } from '../alerting/types.js';

/**
 * A target sample that can make or keep an alert: a region breaches (quorum needs at least one, and
 * `held` too), or the rule's quorum is zero regions. Samples without one produce no candidate, which is
 * what "evaluated, nothing came of it" means to the state stage: leaving them out changes nothing.
 */
export const mayAlert = (s: TargetSample): boolean =>
  s.rule.quorum.regions === 0 || s.regions.some((r) => r.breaching);

/** A sample on the wire: rule id, target, threshold, regions without evidence (the asker adds its own). */
export type WireSample = [string, string, number, Omit<RegionSample, 'sampleReports'>[]];

/**
 * Stage 1 of the alerting pipeline (evaluate) run where a partition's windows are, for the targets of the
 * pass that live there. Only samples that may alert travel; the lease holder runs the rest of the pipeline.
 */
export function evaluateHere(
  source: { summary(q: SummaryQuery, only?: MetricMask): SummaryGroup[] },
  rules: Rule[],
  targets: ReadonlySet<string>,
  expectations: EvaluateInput['expectations'],
  /** Targets that had rows here (a report in an unmapped partition may split a target: see Cluster). */
  seen?: Set<string>,
): WireSample[] {
  const out: WireSample[] = [];
  const samples = evaluate({
    rules,
    read: (w, ts) => {
      const rows = readRows(source, rules, w, ts ?? targets);
      if (seen) for (const r of rows) seen.add(r.target);
      return rows;
    },
    targets,
    expectations,
  });
  for (const s of samples)
    if (mayAlert(s))
      out.push([s.rule.id, s.target, s.threshold, s.regions.map(({ sampleReports: _, ...r }) => r)]);
  return out;
}

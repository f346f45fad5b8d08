/**
 * Stage 2, inhibit: a region whose figures come from our own trouble does not count. A region is inhibited
 * for a rule when an agent of that region went offline within the rule's window (its reports there are
 * partial), or when probe-errors (our Chromium, our overloaded agent) make up at least `probeErrorRatio` of
 * the target's reports there, or of all the region's reports. Inhibited regions keep their figures in the
 * evidence but are left out of the quorum (see quorum.ts: they can hold a firing alert, never fire one).
 */
import { WINDOWS, type WindowName } from '../aggregate/aggregator.js';
import type { AgentFact } from './fleet-rules.js';
import type { TargetSample } from './types.js';

export interface InhibitFacts {
  agents: AgentFact[];
  /** Reports and probe-errors of a whole region (every target) over a window. */
  regionTotals: (window: WindowName, region: string) => { reports: number; probeErrors: number } | undefined;
  now: number;
}

export interface InhibitOptions {
  probeErrorRatio: number;
  agentOffline: boolean;
}

/** Why a region does not count for rules over `window`, or undefined. */
export function regionInhibition(
  window: WindowName,
  region: string,
  target: { reports: number; probeErrors: number },
  facts: InhibitFacts,
  opts: InhibitOptions,
): string | undefined {
  if (opts.agentOffline) {
    const since = facts.now - WINDOWS[window];
    const gone = facts.agents.find(
      (a) => a.region === region && a.status === 'offline' && a.lastSeen >= since,
    );
    if (gone) return `agent ${gone.agentId} offline since ${new Date(gone.lastSeen).toISOString()}`;
  }
  const ratio = (r: { reports: number; probeErrors: number } | undefined) =>
    r && r.reports > 0 ? r.probeErrors / r.reports : 0;
  if (ratio(target) >= opts.probeErrorRatio)
    return `probe-errors in ${target.probeErrors} of ${target.reports} reports of this target`;
  const all = facts.regionTotals(window, region);
  if (all && ratio(all) >= opts.probeErrorRatio)
    return `probe-errors in ${all.probeErrors} of ${all.reports} reports of the region`;
  return undefined;
}

/** Marks inhibited regions in place and returns the samples. */
export function inhibit(samples: TargetSample[], facts: InhibitFacts, opts: InhibitOptions): TargetSample[] {
  for (const s of samples) {
    for (const r of s.regions) {
      r.inhibited = regionInhibition(s.rule.window, r.region, r, facts, opts);
    }
  }
  return samples;
}

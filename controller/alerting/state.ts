/**
 * Stage 4, state: inactive -> pending -> firing -> resolved, Prometheus-style. `for` keeps a new breach
 * pending until it has lasted that long (0 = fire at once); `keep_firing_for` keeps a firing alert firing
 * that long after the last breach (against flapping). A held candidate (breach only in inhibited regions)
 * keeps a firing alert firing and restarts nothing.
 */
import type { Alert, Rule } from './schema.js';
import { durationMs } from './schema.js';
import type { Candidate } from './types.js';

export type Transition = 'pending' | 'firing' | 'resolved' | 'dropped';

export interface Step {
  /** The alert after this evaluation; undefined = inactive (nothing to keep). */
  next: Alert | undefined;
  /** Set when the state changed. 'dropped': a pending alert whose condition went away (never notified). */
  transition?: Transition;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One evaluation of one fingerprint. `cand` undefined = the rule produced nothing for it this time (no data
 * in the window, rule deleted or disabled): treated as not active. `rule` is the alert's rule if it still
 * exists (its keep_firing_for applies).
 */
export function advance(
  prev: Alert | undefined,
  cand: Candidate | undefined,
  now: number,
  rule?: Rule,
): Step {
  const active = cand?.active ?? false;
  const fields = cand
    ? {
        labels: cand.labels,
        annotations: cand.annotations,
        value: cand.value,
        threshold: cand.threshold,
        evidence: cand.evidence,
        held: !active && cand.held,
      }
    : {};
  if (active && cand) {
    if (!prev || prev.state === 'resolved') {
      const fire = durationMs(cand.rule.for) === 0;
      return {
        next: {
          id: cand.fingerprint,
          rule: cand.rule.id,
          state: fire ? 'firing' : 'pending',
          labels: cand.labels,
          annotations: cand.annotations,
          active_at: iso(now),
          ...(fire ? { fired_at: iso(now) } : {}),
          last_breach_at: iso(now),
          updated_at: iso(now),
          value: cand.value,
          threshold: cand.threshold,
          held: false,
          evidence: cand.evidence,
        },
        transition: fire ? 'firing' : 'pending',
      };
    }
    const base = { ...prev, ...fields, held: false, last_breach_at: iso(now), updated_at: iso(now) };
    if (prev.state === 'pending' && now - Date.parse(prev.active_at) >= durationMs(cand.rule.for)) {
      return { next: { ...base, state: 'firing', fired_at: iso(now) }, transition: 'firing' };
    }
    return { next: base };
  }
  if (!prev) return { next: undefined };
  if (prev.state === 'resolved') return { next: prev };
  if (prev.state === 'pending') return { next: undefined, transition: 'dropped' };
  // firing, condition not met
  if (cand?.held) {
    // Our own trouble hides the figures: neither resolve nor count down keep_firing_for.
    return { next: { ...prev, ...fields, held: true, last_breach_at: iso(now), updated_at: iso(now) } };
  }
  const r = cand?.rule ?? rule;
  const keep = r ? durationMs(r.keep_firing_for) : 0;
  const lastBreach = Date.parse(prev.last_breach_at ?? prev.active_at);
  if (now - lastBreach < keep) return { next: { ...prev, ...fields, updated_at: iso(now) } };
  return {
    next: { ...prev, ...fields, held: false, state: 'resolved', resolved_at: iso(now), updated_at: iso(now) },
    transition: 'resolved',
  };
}

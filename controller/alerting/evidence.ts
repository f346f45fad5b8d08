/**
 * Evidence: the ids of recent reports per target x region, with just enough of each to pick the ones
 * that show what a rule looks for (the finding, the failure, the errors). Cheap on the ingest path and
 * bounded: 4 recent and 4 problem reports per series; series idle for an hour are dropped.
 *
 * A digest is a slot written in place, not an object per report: whatever ingest keeps past the report
 * outlives V8's young generation and is copied by every scavenge on its way to the old one (bench:scale's
 * one replica spent ~19 % of its main thread in GC). So a recent digest keeps one bit per figure it had, not
 * the report's metrics object; only the rarer problem reports keep theirs (their errors_* counts).
 */
import { fieldReader } from '../../shared/field-reader.js';
import type { ReportCore } from '../../shared/report-core.js';
import type { Report } from '../../shared/schemas.js';
import { SKETCHED } from '../aggregate/aggregator.js';
import { COUNTERS, type Rule } from './schema.js';

interface Digest {
  id: string;
  /** ISO end time (parsed only when evicting). */
  endedAt: string;
  outcome: Report['outcome'];
  findings: Report['findings'];
  /** Bit i set: the report had a figure for PRESENCE[i]. */
  present: number;
  /** A problem report's own metrics object (kept by reference); undefined in the recent ring. */
  metrics: Report['metrics'] | undefined;
}

const KEEP = 4;
const SAMPLE = 3;
/** The figures a threshold rule samples recent reports by (counters and outcomes need none). */
const PRESENCE: readonly string[] = [...SKETCHED, 'rebuffer_ratio'];
const readPresence = fieldReader(PRESENCE);
const presenceScratch = new Float64Array(PRESENCE.length);
const NO_FINDINGS: Report['findings'] = [];

/** Newest-last ring of at most KEEP digests, written in place. */
class Ring {
  private readonly slots: Digest[] = [];
  private next = 0;
  /** The slot the next digest goes into: a new one until the ring is full, then the oldest. */
  claim(): Digest {
    let d = this.slots[this.next];
    if (!d) {
      d = { id: '', endedAt: '', outcome: 'ok', findings: NO_FINDINGS, present: 0, metrics: undefined };
      this.slots.push(d);
    }
    this.next = (this.next + 1) % KEEP;
    return d;
  }
  /** Newest first. */
  *newest(): Generator<Digest> {
    const n = this.slots.length;
    for (let k = 1; k <= n; k++) yield this.slots[(this.next - k + n * 2) % n] as Digest;
  }
  get last(): Digest | undefined {
    return this.newest().next().value as Digest | undefined;
  }
}

interface Series {
  recent: Ring;
  problems: Ring;
}

/** A report that shows a problem: evidence worth keeping, and a target the alerting evaluates at once. */
export const isProblem = (r: ReportCore): boolean =>
  r.outcome !== 'ok' ||
  r.findings.length > 0 ||
  (r.metrics.errors_http ?? 0) + (r.metrics.errors_network ?? 0) + (r.metrics.errors_player ?? 0) > 0;

function fill(d: Digest, r: ReportCore, present: number, metrics: Report['metrics'] | undefined): void {
  d.id = r.id;
  d.endedAt = r.endedAt;
  d.outcome = r.outcome;
  d.findings = r.findings.length > 0 ? r.findings : NO_FINDINGS;
  d.present = present;
  d.metrics = metrics;
}

export class RecentReports {
  /** target -> region -> series (nested maps: no key string built per report). */
  private readonly byTarget = new Map<string, Map<string, Series>>();

  add(r: ReportCore): void {
    // A watch's closing summary repeats its interval reports (the windows skip it too).
    if (r.mode === 'watch' && r.seq === 0) return;
    let regions = this.byTarget.get(r.target.id);
    if (!regions) {
      regions = new Map();
      this.byTarget.set(r.target.id, regions);
    }
    let s = regions.get(r.region);
    if (!s) {
      s = { recent: new Ring(), problems: new Ring() };
      regions.set(r.region, s);
    }
    readPresence(r.metrics, presenceScratch);
    let present = 0;
    for (let i = 0; i < presenceScratch.length; i++) if (!Number.isNaN(presenceScratch[i])) present |= 1 << i;
    fill(s.recent.claim(), r, present, undefined);
    if (isProblem(r)) fill(s.problems.claim(), r, present, r.metrics);
  }

  /** Up to 3 report ids, newest first, that show what the rule looks for. */
  sample(rule: Rule, target: string, region: string): string[] {
    const s = this.byTarget.get(target)?.get(region);
    if (!s) return [];
    const m = rule.metric ?? '';
    let relevant: (d: Digest) => boolean;
    let source = s.problems;
    if (rule.finding) {
      const code = rule.finding;
      relevant = (d) => (code === 'any' ? d.findings.length > 0 : d.findings.some((f) => f.code === code));
    } else if (m === 'success_ratio' || m === 'outcome_failed') relevant = (d) => d.outcome === 'failed';
    else if (m === 'outcome_degraded') relevant = (d) => d.outcome === 'degraded';
    else if (m === 'outcome_probe_error') relevant = (d) => d.outcome === 'probe-error';
    else if (m.startsWith('errors_'))
      relevant = (d) => ((d.metrics as Record<string, number | undefined> | undefined)?.[m] ?? 0) > 0;
    else {
      source = s.recent;
      const bit = 1 << PRESENCE.indexOf(m);
      relevant = (COUNTERS as readonly string[]).includes(m)
        ? () => true
        : PRESENCE.includes(m)
          ? (d) => (d.present & bit) !== 0
          : () => false;
    }
    const out: string[] = [];
    for (const d of source.newest()) {
      if (out.length >= SAMPLE) break;
      if (relevant(d)) out.push(d.id);
    }
    return out;
  }

  /** Drops series whose newest report is older than `maxAgeMs`. */
  evict(now: number, maxAgeMs = 3_600_000): void {
    for (const [target, regions] of this.byTarget) {
      for (const [region, s] of regions) {
        const newest = Date.parse(s.recent.last?.endedAt ?? '');
        if (!(now - newest <= maxAgeMs)) regions.delete(region);
      }
      if (regions.size === 0) this.byTarget.delete(target);
    }
  }

  /** Series (target x region) held. */
  get size(): number {
    let n = 0;
    for (const regions of this.byTarget.values()) n += regions.size;
    return n;
  }
}

/**
 * Evidence: the ids of recent reports per target x region, with just enough of each to pick the ones
 * that show what a rule looks for (the finding, the failure, the errors). Cheap on the ingest path (a few
 * pointer writes per report, no copies) and bounded: 4 recent and 4 problem reports per series; series
 * idle for an hour are dropped.
 */
import type { ReportCore } from '../../shared/report-core.js';
import type { Report } from '../../shared/schemas.js';
import { COUNTERS, type Rule } from './schema.js';

interface Digest {
  id: string;
  /** ISO end time (parsed only when evicting). */
  endedAt: string;
  outcome: Report['outcome'];
  findings: Report['findings'];
  /** The report's own metrics object (kept by reference, not copied). */
  metrics: Report['metrics'];
}

const KEEP = 4;
const SAMPLE = 3;

/** Newest-last ring of at most KEEP digests. */
class Ring {
  private readonly items: Digest[] = [];
  private next = 0;
  push(d: Digest): void {
    if (this.items.length < KEEP) this.items.push(d);
    else this.items[this.next] = d;
    this.next = (this.next + 1) % KEEP;
  }
  /** Newest first. */
  *newest(): Generator<Digest> {
    const n = this.items.length;
    for (let k = 1; k <= n; k++) yield this.items[(this.next - k + n * 2) % n] as Digest;
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
    const d: Digest = {
      id: r.id,
      endedAt: r.endedAt,
      outcome: r.outcome,
      findings: r.findings,
      metrics: r.metrics,
    };
    s.recent.push(d);
    if (isProblem(r)) s.problems.push(d);
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
      relevant = (d) => ((d.metrics as Record<string, number | undefined>)[m] ?? 0) > 0;
    else {
      source = s.recent;
      relevant = (COUNTERS as readonly string[]).includes(m)
        ? () => true
        : (d) => (d.metrics as Record<string, number | undefined>)[m] !== undefined;
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

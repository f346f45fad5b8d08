/**
 * Evidence: the ids of recent reports per target x region, with just enough of each to pick the ones
 * that show what a rule looks for (the finding, the failure, the errors). Bounded: a few per series,
 * and series idle for an hour are dropped.
 */
import type { Report } from '../../shared/schemas.js';
import { COUNTERS, type Rule } from './schema.js';

interface Digest {
  id: string;
  at: number;
  outcome: Report['outcome'];
  findings: string[];
  errors: { http: number; network: number; player: number; conformance: number };
  metrics: Set<string>;
}

const KEEP = 8;
const SAMPLE = 3;

export class RecentReports {
  private readonly byKey = new Map<string, Digest[]>();

  add(r: Report): void {
    // A watch's closing summary repeats its interval reports (the windows skip it too).
    if (r.mode === 'watch' && r.seq === 0) return;
    const key = `${r.target.id}\u0000${r.region}`;
    let list = this.byKey.get(key);
    if (!list) {
      list = [];
      this.byKey.set(key, list);
    }
    list.push({
      id: r.id,
      at: Date.parse(r.endedAt),
      outcome: r.outcome,
      findings: [...new Set(r.findings.map((f) => f.code))],
      errors: {
        http: r.metrics.errors_http ?? 0,
        network: r.metrics.errors_network ?? 0,
        player: r.metrics.errors_player ?? 0,
        conformance: r.metrics.errors_conformance ?? 0,
      },
      metrics: new Set(Object.keys(r.metrics)),
    });
    // Keep the newest, but never push out the last report that shows a problem for a healthy one.
    if (list.length > KEEP) {
      const i = list.findIndex((d) => d.outcome === 'ok' && d.findings.length === 0);
      list.splice(i >= 0 && i < list.length - 1 ? i : 0, 1);
    }
  }

  /** Up to 3 report ids, newest first, that show what the rule looks for. */
  sample(rule: Rule, target: string, region: string): string[] {
    const list = this.byKey.get(`${target}\u0000${region}`) ?? [];
    const relevant = (d: Digest): boolean => {
      if (rule.finding)
        return rule.finding === 'any' ? d.findings.length > 0 : d.findings.includes(rule.finding);
      const m = rule.metric ?? '';
      if (m === 'success_ratio' || m === 'outcome_failed') return d.outcome === 'failed';
      if (m === 'outcome_degraded') return d.outcome === 'degraded';
      if (m === 'outcome_probe_error') return d.outcome === 'probe-error';
      if (m.startsWith('errors_')) return d.errors[m.slice(7) as keyof Digest['errors']] > 0;
      if ((COUNTERS as readonly string[]).includes(m)) return true;
      return d.metrics.has(m);
    };
    const out: string[] = [];
    for (let i = list.length - 1; i >= 0 && out.length < SAMPLE; i--) {
      const d = list[i] as Digest;
      if (relevant(d)) out.push(d.id);
    }
    return out;
  }

  /** Drops series whose newest report is older than `maxAgeMs`. */
  evict(now: number, maxAgeMs = 3_600_000): void {
    for (const [key, list] of this.byKey) {
      const newest = list[list.length - 1];
      if (!newest || now - newest.at > maxAgeMs) this.byKey.delete(key);
    }
  }

  get size(): number {
    return this.byKey.size;
  }
}

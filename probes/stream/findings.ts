/**
 * Findings collapse: one entry per (code, variant) with a count, the first occurrence's time and evidence
 * (the onset is what an operator needs), and the worst severity seen. Bounded in memory and in output.
 */
import { FINDING_CODES, FindingCode } from '../../shared/metrics.js';
import type { Finding } from '../../shared/schemas.js';
import type { Observation, ObservationCode, Severity } from './model.js';

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const MAX_ENTRIES = 10_000;

export interface BookEntry {
  code: ObservationCode;
  severity: Severity;
  variant: string;
  at: number;
  lastAt: number;
  count: number;
  summary: string;
  lastSummary: string;
  evidence: string;
  /** Every occurrence was a judgement of time our lateness could explain (Observation.timing). */
  timing: boolean;
}

export function isFindingCode(code: ObservationCode): code is FindingCode {
  return FindingCode.safeParse(code).success;
}

export class FindingBook {
  private entries = new Map<string, BookEntry>();
  /** Occurrences that did not fit once MAX_ENTRIES was reached, per code. */
  private overflow = new Map<ObservationCode, { count: number; severity: Severity; at: number }>();

  /** Returns the entry and whether it is new. */
  record(variant: string, at: number, obs: Observation): { entry?: BookEntry; isNew: boolean } {
    const v = variant.slice(0, 2000);
    const key = `${obs.code}\u0000${v}`;
    const e = this.entries.get(key);
    if (e) {
      e.count++;
      e.lastAt = at;
      e.lastSummary = obs.summary;
      // One occurrence the stream answered for (a status, not a timeout) makes the entry the stream's.
      e.timing &&= obs.timing === true;
      if (RANK[obs.severity] > RANK[e.severity]) e.severity = obs.severity;
      return { entry: e, isNew: false };
    }
    if (this.entries.size >= MAX_ENTRIES) {
      const o = this.overflow.get(obs.code) ?? { count: 0, severity: obs.severity, at };
      o.count++;
      if (RANK[obs.severity] > RANK[o.severity]) o.severity = obs.severity;
      this.overflow.set(obs.code, o);
      return { isNew: false };
    }
    const entry: BookEntry = {
      code: obs.code,
      severity: obs.severity,
      variant: v,
      at,
      lastAt: at,
      count: 1,
      summary: obs.summary.slice(0, 400),
      lastSummary: obs.summary.slice(0, 400),
      evidence: obs.evidence.slice(0, 4000),
      timing: obs.timing === true,
    };
    this.entries.set(key, entry);
    return { entry, isNew: true };
  }

  /** The worst severity recorded for (code, variant), undefined when none. */
  severityOf(code: ObservationCode, variant: string): Severity | undefined {
    return this.entries.get(`${code}\u0000${variant.slice(0, 2000)}`)?.severity;
  }

  has(code: ObservationCode, variant: string): boolean {
    return this.entries.has(`${code}\u0000${variant.slice(0, 2000)}`);
  }

  all(): BookEntry[] {
    return [...this.entries.values()];
  }

  get size(): number {
    return this.entries.size;
  }

  /** Findings for a report: worst first, at most `max`, the rest folded into one finding per code. */
  findings(max = 200): Finding[] {
    const list = this.all()
      .filter((e) => isFindingCode(e.code))
      .sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.at - b.at);
    const overflowing = list.length > max || this.overflow.size > 0;
    // Folding leaves at most one finding per code, so that many slots are kept free for them.
    const keep = overflowing ? list.slice(0, Math.max(0, max - FINDING_CODES.length)) : list;
    const rest = list.slice(keep.length);
    const out: Finding[] = keep.map((e) => toFinding(e));
    const folded = new Map<
      ObservationCode,
      { variants: string[]; count: number; severity: Severity; at: number }
    >();
    for (const e of rest) {
      const f = folded.get(e.code) ?? { variants: [], count: 0, severity: e.severity, at: e.at };
      f.variants.push(e.variant);
      f.count += e.count;
      if (RANK[e.severity] > RANK[f.severity]) f.severity = e.severity;
      f.at = Math.min(f.at, e.at);
      folded.set(e.code, f);
    }
    for (const [code, o] of this.overflow) {
      const f = folded.get(code) ?? { variants: [], count: 0, severity: o.severity, at: o.at };
      f.count += o.count;
      folded.set(code, f);
    }
    for (const [code, f] of folded) {
      if (!isFindingCode(code) || out.length >= max) continue;
      const names = f.variants.slice(0, 40).join(', ');
      out.push({
        code,
        severity: f.severity,
        variant: `(${f.variants.length || 'more'} more variants)`,
        at: f.at,
        count: Math.max(1, f.count),
        evidence:
          `folded to keep the report bounded; variants: ${names}${f.variants.length > 40 ? ', …' : ''}`.slice(
            0,
            4000,
          ),
      });
    }
    return out;
  }

  /** Observations without a finding code (segment-slow): they surface as reasons. */
  notes(): BookEntry[] {
    return this.all().filter((e) => !isFindingCode(e.code));
  }

  reset(): void {
    this.entries.clear();
    this.overflow.clear();
  }
}

export function toFinding(e: BookEntry): Finding {
  return {
    code: e.code as FindingCode,
    severity: e.severity,
    variant: e.variant,
    at: e.at,
    count: e.count,
    evidence: e.evidence,
  };
}

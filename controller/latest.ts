import type { ReportCore } from '../shared/report-core.js';
import type { Outcome } from '../shared/schemas.js';

/** One line about a report: what the board shows on a cell and the target view lists. */
export interface ReportLine {
  id: string;
  at: string;
  agentId: string;
  probe: string;
  outcome: Outcome;
  reasons: string[];
  findings: string[];
  startup_ms?: number;
  g2g_ms?: number;
}

const KEEP = 5;
/** Shared by every line without any: a line outlives the young generation, its empty arrays need not. */
const NONE = Object.freeze([]) as unknown as string[];

/**
 * The last few reports per target x region as one-liners. The windows hold counts and sketches only; the
 * board also needs "what did the last probe say" for a cell's state and its tooltip.
 */
export class LatestReports {
  /** target -> region -> lines, newest first (nested maps: no key string built per report). */
  private readonly cells = new Map<string, Map<string, ReportLine[]>>();

  add(r: ReportCore): void {
    // A watch's summary (seq 0) repeats what its interval reports said.
    if (r.mode === 'watch' && r.seq === 0) return;
    let regions = this.cells.get(r.target.id);
    if (!regions) {
      regions = new Map();
      this.cells.set(r.target.id, regions);
    }
    let lines = regions.get(r.region);
    if (!lines) {
      lines = [];
      regions.set(r.region, lines);
    }
    const line: ReportLine = {
      id: r.id,
      at: r.endedAt,
      agentId: r.agentId,
      probe: r.probe,
      outcome: r.outcome,
      // The validated report is not shared with anyone who mutates it: short arrays are kept as they are.
      reasons: r.reasons.length === 0 ? NONE : r.reasons.length <= 3 ? r.reasons : r.reasons.slice(0, 3),
      findings: r.findings.length === 0 ? NONE : [...new Set(r.findings.map((f) => f.code))],
      startup_ms: r.metrics.startup_ms,
      g2g_ms: r.metrics.g2g_p50_ms,
    };
    // Replay and redelivery may arrive out of order: keep newest first.
    let i = 0;
    while (i < lines.length && (lines[i] as ReportLine).at > line.at) i++;
    if (i >= KEEP) return;
    if (lines.length >= KEEP) lines.pop();
    lines.splice(i, 0, line);
  }

  get(target: string, region: string): ReportLine[] {
    return this.cells.get(target)?.get(region) ?? [];
  }

  /** Drops cells whose newest report is older than `beforeMs` (they fall off the board with the windows). */
  evict(beforeMs: number): void {
    for (const [target, regions] of this.cells) {
      for (const [region, lines] of regions) {
        if (!lines[0] || Date.parse(lines[0].at) < beforeMs) regions.delete(region);
      }
      if (regions.size === 0) this.cells.delete(target);
    }
  }
}

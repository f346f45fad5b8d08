import type { z } from 'zod';
import type { CellFigure, Sweep, SweepVerdict, VerdictCell, VerdictLevel } from '../../shared/api.js';
import type { Expectations, Report, Target } from '../../shared/schemas.js';

/**
 * The readiness verdict: GO / WARN / NO-GO per target x region and overall, each with its reasons in
 * plain words. Pure: the sweep, its targets' expectations and a baseline lookup in, the verdict out.
 * The rules and every threshold below are documented in docs/guides/readiness.md; keep the two in step.
 */

/** Used for any expectation a target does not set. */
export const DEFAULT_EXPECTATIONS = {
  startup_ms: 5000,
  g2g_ms: 15_000,
  latency_ms: 15_000,
  rebuffer_ratio: 0.01,
  error_rate: 0.05,
} as const satisfies Required<z.infer<typeof Expectations>>;

/** How much worse than the baseline a figure may get before the cell is WARN (regression). */
export const REGRESSION = {
  /** startup p95: +50 % and at least +1 s (sub-second startups vary by more than half on a busy host). */
  startupRatio: 1.5,
  startupMinMs: 1000,
  /** glass-to-glass / latency p95: +2 s. */
  g2gMs: 2000,
  latencyMs: 2000,
  /** rebuffer ratio: +0.01 absolute. */
  rebufferAbs: 0.01,
} as const;

/** A cell whose reports are at least this share probe-errors is WARN: inconclusive. */
export const INCONCLUSIVE_PROBE_ERROR_SHARE = 0.5;

/** The figures a cell is judged on, from its (non probe-error) reports: worst case over the reports. */
interface CellStats {
  startup?: number;
  g2g?: number;
  latency?: number;
  rebuffer?: number;
  errorRate?: number;
}

export type BaselineLookup = (
  target: string,
  region: string,
) => { sweepId: string; stats: CellStats } | undefined;

const max = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length ? Math.max(...v) : undefined;
};

export function cellStats(reports: Report[]): CellStats {
  const judged = reports.filter((r) => r.outcome !== 'probe-error');
  return {
    startup: max(judged.map((r) => r.metrics.startup_ms)),
    g2g: max(judged.map((r) => r.metrics.g2g_p95_ms ?? r.metrics.g2g_p50_ms)),
    latency: max(
      judged.map(
        (r) => r.metrics.pdt_latency_p95_ms ?? r.metrics.pdt_latency_p50_ms ?? r.metrics.dash_latency_p50_ms,
      ),
    ),
    rebuffer: max(judged.map((r) => r.metrics.rebuffer_ratio)),
    errorRate: max(
      judged.map((r) => {
        // segments_total counts the segments fetched and timed; failed requests come on top of them.
        const failed = (r.metrics.errors_http ?? 0) + (r.metrics.errors_network ?? 0);
        const requests = (r.metrics.segments_total ?? 0) + failed;
        return requests ? failed / requests : undefined;
      }),
    ),
  };
}

const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const RANK: Record<VerdictLevel, number> = { go: 0, warn: 1, 'no-go': 2 };
export const worst = (a: VerdictLevel, b: VerdictLevel): VerdictLevel => (RANK[a] >= RANK[b] ? a : b);

export interface JudgeInput {
  sweep: Pick<Sweep, 'targets' | 'regions' | 'reports' | 'allowMissingRegions' | 'state'>;
  /** The registered targets (expectations, labels); ad hoc targets get the defaults. */
  target: (id: string) => Target | undefined;
  baseline: BaselineLookup;
}

export function judgeCell(
  targetId: string,
  region: string,
  reports: Report[],
  input: JudgeInput,
): VerdictCell {
  const t = input.target(targetId);
  const x = { ...DEFAULT_EXPECTATIONS, ...(t?.expectations ?? {}) };
  const probeErrors = reports.filter((r) => r.outcome === 'probe-error');
  const judged = reports.filter((r) => r.outcome !== 'probe-error');
  const stats = cellStats(reports);
  const base = input.baseline(targetId, region);
  const figures: CellFigure[] = [
    {
      metric: 'startup',
      value: stats.startup ?? null,
      expected: x.startup_ms,
      baseline: base?.stats.startup,
      unit: 'ms',
    },
    {
      metric: 'glass-to-glass p95',
      value: stats.g2g ?? null,
      expected: x.g2g_ms,
      baseline: base?.stats.g2g,
      unit: 'ms',
    },
    {
      metric: 'latency p95',
      value: stats.latency ?? null,
      expected: x.latency_ms,
      baseline: base?.stats.latency,
      unit: 'ms',
    },
    {
      metric: 'rebuffer ratio',
      value: stats.rebuffer ?? null,
      expected: x.rebuffer_ratio,
      baseline: base?.stats.rebuffer,
      unit: 'ratio',
    },
    {
      metric: 'error rate',
      value: stats.errorRate ?? null,
      expected: x.error_rate,
      baseline: base?.stats.errorRate,
      unit: 'ratio',
    },
  ];
  const cell = (verdict: VerdictLevel, reasons: string[], inconclusive = false): VerdictCell => ({
    target: targetId,
    region,
    labels: t?.labels ?? {},
    verdict,
    inconclusive,
    reasons,
    reports: reports.length,
    probeErrors: probeErrors.length,
    figures,
    baselineSweepId: base?.sweepId,
  });

  // (c) coverage: nothing from this region.
  if (reports.length === 0) {
    const why =
      input.sweep.state === 'cancelled'
        ? 'no report: the sweep was cancelled'
        : `no report from region ${region} (no agent took the job, or it did not finish in time)`;
    return input.sweep.allowMissingRegions
      ? cell('warn', [`${why}; allowed by the sweep`], true)
      : cell('no-go', [why], true);
  }

  const noGo: string[] = [];
  const warn: string[] = [];
  // The probe's own verdict: failed = the viewer saw no (or broken) video.
  for (const r of judged) {
    if (r.outcome === 'failed') noGo.push(`stream failed: ${r.reasons.join('; ') || 'no reason given'}`);
  }
  // (a) expectations.
  if (stats.startup !== undefined && stats.startup > x.startup_ms)
    noGo.push(`startup ${s1(stats.startup)} exceeds the expected ${s1(x.startup_ms)}`);
  if (stats.g2g !== undefined && stats.g2g > x.g2g_ms)
    noGo.push(`glass-to-glass ${s1(stats.g2g)} exceeds the expected ${s1(x.g2g_ms)}`);
  if (stats.latency !== undefined && stats.latency > x.latency_ms)
    noGo.push(`latency ${s1(stats.latency)} exceeds the expected ${s1(x.latency_ms)}`);
  if (stats.rebuffer !== undefined && stats.rebuffer > x.rebuffer_ratio)
    noGo.push(`rebuffering ${pct(stats.rebuffer)} of the time exceeds the expected ${pct(x.rebuffer_ratio)}`);
  if (stats.errorRate !== undefined && stats.errorRate > x.error_rate)
    noGo.push(`${pct(stats.errorRate)} of segment requests failed (expected at most ${pct(x.error_rate)})`);
  // A degraded probe outcome whose reasons the expectations above did not already cover (stalls, frozen picture).
  for (const r of judged) {
    if (r.outcome === 'degraded' && noGo.length === 0) warn.push(`degraded: ${r.reasons.join('; ')}`);
  }
  // (b) regression against the baseline.
  if (base) {
    const b = base.stats;
    if (
      stats.startup !== undefined &&
      b.startup !== undefined &&
      stats.startup > b.startup * REGRESSION.startupRatio &&
      stats.startup - b.startup >= REGRESSION.startupMinMs
    )
      warn.push(`startup ${s1(stats.startup)} regressed from ${s1(b.startup)} in the baseline`);
    if (stats.g2g !== undefined && b.g2g !== undefined && stats.g2g - b.g2g > REGRESSION.g2gMs)
      warn.push(`glass-to-glass ${s1(stats.g2g)} regressed from ${s1(b.g2g)} in the baseline`);
    if (
      stats.latency !== undefined &&
      b.latency !== undefined &&
      stats.latency - b.latency > REGRESSION.latencyMs
    )
      warn.push(`latency ${s1(stats.latency)} regressed from ${s1(b.latency)} in the baseline`);
    if (
      stats.rebuffer !== undefined &&
      b.rebuffer !== undefined &&
      stats.rebuffer - b.rebuffer > REGRESSION.rebufferAbs
    )
      warn.push(`rebuffering ${pct(stats.rebuffer)} regressed from ${pct(b.rebuffer)} in the baseline`);
  }
  // (d) probe errors are our trouble, never the stream's: at most inconclusive.
  const share = probeErrors.length / reports.length;
  if (share >= INCONCLUSIVE_PROBE_ERROR_SHARE) {
    const why = `inconclusive: ${probeErrors.length} of ${reports.length} probes failed on our side (${probeErrors[0]?.reasons.join('; ') || 'probe error'})`;
    if (noGo.length) return cell('no-go', [...noGo, why]);
    return cell('warn', [...warn, why], true);
  }
  if (noGo.length) return cell('no-go', [...noGo, ...warn]);
  if (warn.length) return cell('warn', warn);
  return cell('go', []);
}

export function judgeSweep(input: JudgeInput): SweepVerdict {
  const cells: VerdictCell[] = [];
  for (const t of input.sweep.targets) {
    for (const region of input.sweep.regions) {
      const reports = input.sweep.reports.filter(
        (r) => r.target.id === t.id && r.region === region && r.seq === 0,
      );
      cells.push(judgeCell(t.id, region, reports, input));
    }
  }
  let verdict: VerdictLevel = 'go';
  const reasons: string[] = [];
  for (const c of cells) {
    verdict = worst(verdict, c.verdict);
    for (const why of c.reasons) reasons.push(`${c.target} @ ${c.region}: ${why}`);
  }
  if (cells.length === 0) {
    verdict = 'no-go';
    reasons.push('the sweep had no target x region to judge');
  }
  return { verdict, reasons, cells };
}

/**
 * Stage 1, evaluate: every series rule, per target, per region, from the aggregator's window summaries.
 * Pure: the rows come in through a function, so tests pass plain arrays.
 */
import type { ProbeKind, Target } from '../../shared/schemas.js';

type Expectations = Target['expectations'];

import {
  type MetricMask,
  metricMask,
  type SketchedMetric,
  type SummaryGroup,
  type SummaryQuery,
  WINDOWS,
  type WindowName,
} from '../aggregate/aggregator.js';
import type { Comparator, Counter, Percentile, Rule } from './schema.js';
import { COUNTERS } from './schema.js';
import type { ReadRows, RegionSample, SeriesRow, TargetSample } from './types.js';

export interface EvaluateInput {
  /** Enabled series rules (fleet rules are evaluated by fleet.ts). */
  rules: Rule[];
  read: ReadRows;
  /** Only these targets (a report triggered them); undefined = every target with data. */
  targets?: ReadonlySet<string>;
  expectations: (target: string) => Expectations | undefined;
  /** Report ids from a region that show what a rule looks for (evidence). */
  samples?: (rule: Rule, target: string, region: string) => string[];
}

export function compare(value: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** The worse of two figures for a comparator: the larger for > / >=, the smaller for < / <=. */
const worse = (op: Comparator, a: number, b: number) =>
  op === '>' || op === '>=' ? Math.max(a, b) : Math.min(a, b);

function counter(row: SeriesRow, c: Counter): number {
  const s = row.summary;
  switch (c) {
    case 'reports':
      return s.count;
    case 'outcome_failed':
      return s.outcomes.failed;
    case 'outcome_degraded':
      return s.outcomes.degraded;
    case 'outcome_probe_error':
      return s.outcomes['probe-error'];
    case 'errors_http':
      return s.errors.http;
    case 'errors_network':
      return s.errors.network;
    case 'errors_player':
      return s.errors.player;
    case 'errors_conformance':
      return s.errors.conformance;
  }
}

/** Total occurrences of a finding code (or of every code) in a row. */
function findings(row: SeriesRow, code: string): number {
  const f = row.summary.findings as Record<string, number | undefined>;
  if (code !== 'any') return f[code] ?? 0;
  let n = 0;
  for (const v of Object.values(f)) n += v ?? 0;
  return n;
}

/** A rule's value over the rows of one target x region (one row per probe kind). */
export function regionValue(rule: Rule, rows: SeriesRow[]): number | null {
  const reports = rows.reduce((n, r) => n + r.summary.count, 0);
  const agg = rule.agg;
  const perWindow = (total: number): number | null => {
    if (agg === 'count') return total;
    if (agg === 'rate') return total / (WINDOWS[rule.window] / 1000);
    return reports > 0 ? total / reports : null; // ratio: per report
  };
  if (rule.finding) return perWindow(rows.reduce((n, r) => n + findings(r, rule.finding as string), 0));
  const m = rule.metric as string;
  if ((COUNTERS as readonly string[]).includes(m))
    return perWindow(rows.reduce((n, r) => n + counter(r, m as Counter), 0));
  if (m === 'success_ratio') {
    let good = 0;
    let judged = 0;
    for (const r of rows) {
      const o = r.summary.outcomes;
      good += o.ok + o.degraded;
      judged += o.ok + o.degraded + o.failed;
    }
    return judged > 0 ? good / judged : null;
  }
  // rebuffer_ratio and percentiles: one figure per probe kind; a region is as bad as its worse kind.
  let v: number | null = null;
  for (const r of rows) {
    const x =
      m === 'rebuffer_ratio'
        ? r.summary.rebuffer_ratio
        : (r.summary.metrics[m as SketchedMetric]?.[agg as Percentile] ?? null);
    if (x === null || x === undefined) continue;
    v = v === null ? x : worse(rule.op, v, x);
  }
  return v;
}

/** The threshold for one target: its expectation when the rule says so and the target has one. */
export function thresholdFor(rule: Rule, exp: Expectations | undefined): number {
  const fromTarget = rule.threshold_from ? exp?.[rule.threshold_from] : undefined;
  return fromTarget ?? rule.threshold;
}

/** Rules whose figure is per probe kind (the worse kind counts): percentiles and the rebuffer ratio. */
export const perKind = (rule: Rule): boolean =>
  rule.metric === 'rebuffer_ratio' || (rule.agg !== undefined && ['p50', 'p95', 'p99'].includes(rule.agg));

/** Which rows the rules over `window` need: some probe kinds, and/or both kinds merged ('all'). */
export function rowNeeds(rules: Rule[], window: WindowName): Set<ProbeKind | 'all'> {
  const need = new Set<ProbeKind | 'all'>();
  for (const r of rules) {
    if (r.fleet || r.window !== window) continue;
    if (r.probe) need.add(r.probe);
    else if (perKind(r)) {
      need.add('browser');
      need.add('stream');
    } else need.add('all');
  }
  return need;
}

/** Which sketched metrics the series rules over `window` read (the rest of a row's quantiles are not computed). */
export function metricNeeds(rules: Rule[], window: WindowName): MetricMask {
  return metricMask(
    rules.filter((r) => !r.fleet && r.window === window && r.metric).map((r) => r.metric as string),
  );
}

/** Window summaries per (target, region) of some targets: the probe kinds the rules read, or all merged. */
export function readRows(
  source: { summary(q: SummaryQuery, only?: MetricMask): SummaryGroup[] },
  rules: Rule[],
  window: WindowName,
  targets: Iterable<string>,
): SeriesRow[] {
  const need = rowNeeds(rules, window);
  const only = metricNeeds(rules, window);
  const rows: SeriesRow[] = [];
  for (const target of targets) {
    for (const probe of need) {
      const q = probe === 'all' ? { target } : { target, probe };
      for (const g of source.summary({ window, groupBy: 'region', ...q }, only))
        rows.push({ target, region: g.key, probe, summary: g });
    }
  }
  return rows;
}

/** A rule's rows of one region: its probe kind; else per kind (worse counts) or merged (sums). */
function rowsFor(rule: Rule, all: SeriesRow[]): SeriesRow[] {
  const kinds = all.filter((r) => r.probe !== 'all');
  if (rule.probe) return kinds.filter((r) => r.probe === rule.probe);
  if (perKind(rule)) return kinds;
  const merged = all.filter((r) => r.probe === 'all');
  return merged.length ? merged : kinds;
}

/** Evaluates the series rules: one TargetSample per rule per target with data. */
export function evaluate(input: EvaluateInput): TargetSample[] {
  const out: TargetSample[] = [];
  const byWindow = new Map<WindowName, Map<string, Map<string, SeriesRow[]>>>();
  for (const rule of input.rules) {
    if (rule.fleet || !rule.agg) continue;
    let index = byWindow.get(rule.window);
    if (!index) {
      index = indexRows(input.read(rule.window, input.targets));
      byWindow.set(rule.window, index);
    }
    for (const [target, regions] of index) {
      if (rule.targets && !rule.targets.includes(target)) continue;
      const threshold = thresholdFor(rule, input.expectations(target));
      const samples: RegionSample[] = [];
      for (const [region, all] of regions) {
        const rows = rowsFor(rule, all);
        if (rows.length === 0) continue;
        const reports = rows.reduce((n, r) => n + r.summary.count, 0);
        const value = regionValue(rule, rows);
        const counted = value !== null && reports >= rule.min_reports;
        const breaching = counted && compare(value, rule.op, threshold);
        samples.push({
          region,
          value: value === null ? null : round(value),
          breaching,
          counted,
          reports,
          probeErrors: rows.reduce((n, r) => n + r.summary.outcomes['probe-error'], 0),
          sampleReports: breaching ? (input.samples?.(rule, target, region) ?? []) : [],
        });
      }
      if (samples.length) out.push({ rule, target, threshold, regions: samples });
    }
  }
  return out;
}

const round = (v: number) => Math.round(v * 10_000) / 10_000;

/** target -> region -> rows (one per probe kind). */
function indexRows(rows: SeriesRow[]): Map<string, Map<string, SeriesRow[]>> {
  const index = new Map<string, Map<string, SeriesRow[]>>();
  for (const row of rows) {
    let regions = index.get(row.target);
    if (!regions) {
      regions = new Map();
      index.set(row.target, regions);
    }
    const list = regions.get(row.region);
    if (list) list.push(row);
    else regions.set(row.region, [row]);
  }
  return index;
}

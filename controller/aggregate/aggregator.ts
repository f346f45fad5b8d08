import type { DDSketch } from '@datadog/sketches-js';
import { fieldReader } from '../../shared/field-reader.js';
import { isoMs } from '../../shared/iso-time.js';
import type { FindingCode, MetricName } from '../../shared/metrics.js';
import type { ReportCore } from '../../shared/report-core.js';
import { SketchScratch } from '../../shared/sample-sketch.js';
import type { ProbeKind, Report, SampleName } from '../../shared/schemas.js';
import { acceptCode, acceptKeyed, codeOf, keyOf, metricOfCode, newSketch, quantiles } from './sketch.js';

/** The latency-like metrics kept as quantile sketches; everything else is a counter or a ratio. */
export const SKETCHED = [
  'startup_ms',
  'manifest_ms',
  'first_segment_ms',
  'segment_ttfb_p50_ms',
  'segment_download_p50_ms',
  'segment_throughput_p50_kbps',
  'segment_availability_delay_p50_ms',
  'g2g_p50_ms',
  'pdt_latency_p50_ms',
  'dash_latency_p50_ms',
  'stall_ms',
  // Issue #21 (stream probe).
  'bandwidth_peak_ratio',
  // Viewer signals (browser probe): silence and missing audio per report, |A/V offset| (signed values would
  // be clamped at 0 like clock skew, so the sketch keeps the magnitude).
  'silent_ms',
  'audio_missing_ms',
  'av_offset_abs_ms',
] as const satisfies readonly MetricName[];
export type SketchedMetric = (typeof SKETCHED)[number];

/**
 * The raw samples behind a per-report figure (a report's optional `sketches`): where every report of a group
 * carries them, the group's quantiles are of the samples (of: "samples"), else of the reports' figures.
 */
export const SAMPLE_OF: Partial<Record<SketchedMetric, SampleName>> = {
  segment_ttfb_p50_ms: 'segment_ttfb_ms',
  segment_download_p50_ms: 'segment_download_ms',
  segment_throughput_p50_kbps: 'segment_throughput_kbps',
  segment_availability_delay_p50_ms: 'segment_availability_delay_ms',
  g2g_p50_ms: 'g2g_ms',
  pdt_latency_p50_ms: 'pdt_latency_ms',
  dash_latency_p50_ms: 'dash_latency_ms',
};

/** Figures that compare our clock with another machine's: left out of a clock-suspect report's series. */
export const CLOCK_DEPENDENT: ReadonlySet<SketchedMetric> = new Set<SketchedMetric>([
  'segment_availability_delay_p50_ms',
  'g2g_p50_ms',
  'pdt_latency_p50_ms',
  'dash_latency_p50_ms',
]);

export const WINDOWS = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000 } as const;
export type WindowName = keyof typeof WINDOWS;
export const GROUP_BY = ['region', 'target', 'probe'] as const;
/** A fixed dimension, or `label:<name>`: the value of that label on the series' target (per-CDN comparison). */
export type GroupBy = (typeof GROUP_BY)[number] | `label:${string}`;

/** Windows are made of 15 s buckets: a window's edge is exact to 15 s, and a series holds at most 240. */
export const BUCKET_MS = 15_000;
const RETAIN_MS = WINDOWS['1h'];
/** Series merged per event-loop turn when the API recomputes a summary. */
const SLICE = 500;

export interface Bucket {
  start: number;
  count: number;
  ok: number;
  degraded: number;
  failed: number;
  probeError: number;
  errorsHttp: number;
  errorsNetwork: number;
  errorsPlayer: number;
  errorsConformance: number;
  /** Σ rebuffer_ratio x report duration and Σ duration: a duration-weighted rebuffer ratio. */
  rebufferWeighted: number;
  rebufferDurationMs: number;
  /**
   * Small buckets keep each value as its sketch key, packed with its metric index in one small integer
   * (sketch.ts codeOf: 8 bytes, where a raw (index, value) pair took 16 and an empty-ish sketch ~400);
   * past KEYS_MAX they move into one DDSketch per metric. Most series hold a handful of reports per
   * bucket, and a watch reporting every 2 s eight: this is what keeps 100k series cheap. Quantiles always
   * come from a sketch (keys are added to the group's sketch at query time), and a key is the bin its
   * value falls in, so they are the same as if the values had gone into sketches.
   */
  keys: number[] | undefined;
  sketches: (DDSketch | undefined)[] | undefined;
  /** Conformance findings by code (occurrences, collapsed repeats counted), only when there are any. */
  findings: Partial<Record<FindingCode, number>> | undefined;
  /** Per SKETCHED index: the merged sample sketches of reports that carried them (SAMPLE_OF). */
  samples: (DDSketch | undefined)[] | undefined;
  /** Per SKETCHED index: reports with the figure but without its samples (the group then reports `of: reports`). */
  unsampled: number[] | undefined;
  /** Sums over the reports (time and frame counts add up; their percentiles would say less). */
  frozenMs: number;
  blackMs: number;
  droppedFrames: number;
  totalFrames: number;
  segmentsTotal: number;
  clockSkewNegative: number;
}

/**
 * 14 reports of 9 figures: a series' 15 s bucket stays keys up to a report every second. (A watch every 2 s
 * put ~70 values in each, and the 11 sketches they became held ~5 kB a bucket: 1.2 MB a series over the
 * hour, bench:memory.) Rollups, with every region's reports, become sketches within their first seconds.
 */
const KEYS_MAX = 128;

/** Cumulative counts since the series appeared (Prometheus counters; reset when the series is evicted). */
export interface Totals {
  ok: number;
  degraded: number;
  failed: number;
  'probe-error': number;
  http: number;
  network: number;
  player: number;
  conformance: number;
}

interface Series {
  target: string;
  region: string;
  probe: ProbeKind;
  buckets: Bucket[];
  totals: Totals;
  /**
   * A series' rollups (region, probe kind, target), found once instead of three lookups per report. A
   * rollup holds a bucket wherever its series does, so eviction (one cutoff for all) never drops a rollup
   * while a series that points at it lives.
   */
  up: [Series, Series, Series] | undefined;
}

/** A series' key: target, region, probe kind (the /metrics series use it too, controller/metrics.ts). */
export const seriesKey = (target: string, region: string, probe: string) =>
  `${target}\u0000${region}\u0000${probe}`;

export interface SummaryQuery {
  window: WindowName;
  groupBy: GroupBy;
  target?: string;
  region?: string;
  probe?: ProbeKind;
}

export interface MetricSummary {
  p50: number;
  p95: number;
  p99: number;
  /** Samples (of: samples) or reports (of: reports) the quantiles are over. */
  count: number;
  /** samples: quantiles of every raw sample (merged report sketches); reports: of one figure per report. */
  of?: 'samples' | 'reports';
}

/** Totals over a group's reports. */
export interface SummarySums {
  frozen_ms: number;
  black_ms: number;
  dropped_frames: number;
  total_frames: number;
  segments_total: number;
  /** Latency samples still negative after the clock correction (skew beyond the estimate). */
  clock_skew_negative: number;
}

export interface SummaryGroup {
  key: string;
  count: number;
  outcomes: { ok: number; degraded: number; failed: number; 'probe-error': number };
  /** (ok + degraded) / (ok + degraded + failed): probe-errors are ours and do not count against a stream. */
  success_ratio: number | null;
  rebuffer_ratio: number | null;
  errors: { http: number; network: number; player: number; conformance: number };
  metrics: Partial<Record<SketchedMetric, MetricSummary>>;
  findings: Partial<Record<FindingCode, number>>;
  sums?: SummarySums;
}

export const emptyBucket = (start: number): Bucket => ({
  start,
  count: 0,
  ok: 0,
  degraded: 0,
  failed: 0,
  probeError: 0,
  errorsHttp: 0,
  errorsNetwork: 0,
  errorsPlayer: 0,
  errorsConformance: 0,
  rebufferWeighted: 0,
  rebufferDurationMs: 0,
  keys: undefined,
  sketches: undefined,
  findings: undefined,
  samples: undefined,
  unsampled: undefined,
  frozenMs: 0,
  blackMs: 0,
  droppedFrames: 0,
  totalFrames: 0,
  segmentsTotal: 0,
  clockSkewNegative: 0,
});

/**
 * Rolling windows (1m, 5m, 1h) per target x region x probe kind, with DDSketch quantiles for every
 * latency-like metric. Reports are placed by their end time, so replaying history after a restart
 * rebuilds the same windows. Series with no bucket left in the hour are evicted.
 */
export class Aggregator {
  private readonly series = new Map<string, Series>();
  /**
   * The same series by target, then region (probe kinds side by side): ingest finds a report's series
   * with two lookups on strings the report already holds, instead of building a key string per report.
   */
  private readonly index = new Map<string, Map<string, Series[]>>();
  /**
   * Every report also goes into its region's, its probe kind's and its target's rollup: the unfiltered
   * groupings a dashboard polls (and a partitioned replica's share of a fleet-wide answer, every ~second)
   * read a few pre-merged series (1 000 targets) instead of merging every series (100 000) on each refresh.
   */
  private readonly rollups: Record<'region' | 'probe' | 'target', Map<string, Series>> = {
    region: new Map(),
    probe: new Map(),
    target: new Map(),
  };
  private readonly cache = new Map<
    string,
    { at: number; groups: SummaryGroup[] | undefined; refreshing: Promise<SummaryGroup[]> | undefined }
  >();
  constructor(
    private readonly opts: {
      now?: () => number;
      cacheMs?: number;
      /** A target's labels (from the target registry), for groupBy=label:<name>; read at query time. */
      labelsOf?: (targetId: string) => Record<string, string> | undefined;
    } = {},
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  get size(): number {
    return this.series.size;
  }

  /** Whether some series of this target is held here (reports in the last hour). */
  hasTarget(target: string): boolean {
    return this.index.has(target);
  }

  add(report: ReportCore): void {
    // A watch's summary (seq 0) re-counts the period its interval reports already covered.
    if (report.mode === 'watch' && report.seq === 0) return;
    const at = isoMs(report.endedAt);
    if (!(at > this.now() - RETAIN_MS)) return;
    const m = report.metrics;
    // The report's duration weighs its rebuffer ratio: parsed once for the four buckets it goes into.
    const durationMs = m.rebuffer_ratio === undefined ? 0 : Math.max(0, at - isoMs(report.startedAt));
    const s = this.seriesOf(report);
    const r = prepare(report, durationMs);
    const t = s.totals;
    t[report.outcome]++;
    t.http += r.http;
    t.network += r.network;
    t.player += r.player;
    t.conformance += r.conformance;
    const start = Math.floor(at / BUCKET_MS) * BUCKET_MS;
    addToBucket(this.bucketFor(s, start), r);
    let up = s.up;
    if (up === undefined) {
      up = [
        this.seriesFor(this.rollups.region, report.region, report),
        this.seriesFor(this.rollups.probe, report.probe, report),
        this.seriesFor(this.rollups.target, report.target.id, report),
      ];
      s.up = up;
    }
    addToBucket(this.bucketFor(up[0], start), r);
    addToBucket(this.bucketFor(up[1], start), r);
    addToBucket(this.bucketFor(up[2], start), r);
  }

  /** The report's target x region x probe series, created on its first report. */
  private seriesOf(report: ReportCore): Series {
    let regions = this.index.get(report.target.id);
    if (!regions) {
      regions = new Map();
      this.index.set(report.target.id, regions);
    }
    let kinds = regions.get(report.region);
    if (!kinds) {
      kinds = [];
      regions.set(report.region, kinds);
    }
    for (let i = 0; i < kinds.length; i++) {
      const s = kinds[i] as Series;
      if (s.probe === report.probe) return s;
    }
    const s = this.seriesFor(this.series, seriesKey(report.target.id, report.region, report.probe), report);
    kinds.push(s);
    return s;
  }

  /** Removes an evicted series from the ingest index. */
  private unindex(s: Series): void {
    const regions = this.index.get(s.target);
    const kinds = regions?.get(s.region);
    if (!regions || !kinds) return;
    const i = kinds.indexOf(s);
    if (i >= 0) kinds.splice(i, 1);
    if (kinds.length === 0) regions.delete(s.region);
    if (regions.size === 0) this.index.delete(s.target);
  }

  private seriesFor(map: Map<string, Series>, key: string, report: ReportCore): Series {
    let s = map.get(key);
    if (!s) {
      s = {
        target: report.target.id,
        region: report.region,
        probe: report.probe,
        buckets: [],
        up: undefined,
        totals: {
          ok: 0,
          degraded: 0,
          failed: 0,
          'probe-error': 0,
          http: 0,
          network: 0,
          player: 0,
          conformance: 0,
        },
      };
      map.set(key, s);
    }
    return s;
  }

  private bucketFor(s: Series, start: number): Bucket {
    const bs = s.buckets;
    // Reports arrive nearly in order: look from the end.
    for (let i = bs.length - 1; i >= 0; i--) {
      const b = bs[i] as Bucket;
      if (b.start === start) return b;
      if (b.start < start) {
        const nb = emptyBucket(start);
        // The usual case, a new newest bucket: appended without splice's array of removed items.
        if (i === bs.length - 1) bs.push(nb);
        else bs.splice(i + 1, 0, nb);
        return nb;
      }
    }
    const nb = emptyBucket(start);
    bs.unshift(nb);
    return nb;
  }

  /** Drops buckets older than an hour and series left empty; returns the evicted series. */
  evict(): { target: string; region: string; probe: ProbeKind }[] {
    const cutoff = this.now() - RETAIN_MS;
    const evicted: { target: string; region: string; probe: ProbeKind }[] = [];
    for (const map of [this.series, this.rollups.region, this.rollups.probe, this.rollups.target]) {
      for (const [key, s] of map) {
        let drop = 0;
        while (drop < s.buckets.length && (s.buckets[drop] as Bucket).start + BUCKET_MS <= cutoff) drop++;
        if (drop) s.buckets.splice(0, drop);
        if (s.buckets.length === 0) {
          map.delete(key);
          if (map === this.series) {
            this.unindex(s);
            evicted.push({ target: s.target, region: s.region, probe: s.probe });
          }
        }
      }
    }
    return evicted;
  }

  /**
   * Fresh summary, computed now (alert evaluation, tests). `only`: the sketched metrics to compute
   * quantiles for (metricMask); the others are left out of `metrics`, their sketches not even merged.
   * Alert evaluation reads a few of them, for every target x region a pass, and the rest was most of its
   * CPU and garbage.
   */
  summary(q: SummaryQuery, only?: MetricMask): SummaryGroup[] {
    const acc = new Map<string, Bucket>();
    const { source, keyOf } = this.plan(q);
    this.accumulate(source, q, this.now() - WINDOWS[q.window], keyOf, acc, only);
    return finish(acc, only);
  }

  /**
   * A summary's group accumulators before they are finished, for the cross-replica merge
   * (controller/partition/): `by` = 'cell' keys them target x region, 'series' target x region x probe.
   * `acc`: add into these accumulators (several partitions' answers merged in one place).
   */
  partial(q: SummaryQuery, by?: 'cell' | 'series', acc = new Map<string, Bucket>()): Map<string, Bucket> {
    const plan: { source: Iterable<Series>; keyOf: (s: Series) => string | undefined } = by
      ? {
          source: this.series.values(),
          keyOf:
            by === 'cell'
              ? (s) => `${s.target}\u0000${s.region}`
              : (s) => seriesKey(s.target, s.region, s.probe),
        }
      : this.plan(q);
    this.accumulate(plan.source, q, this.now() - WINDOWS[q.window], plan.keyOf, acc);
    return acc;
  }

  /**
   * Reports and probe errors per region over a window, from the rollups without merging any sketch: what
   * the alerting's inhibit stage reads, asked of every partition on every pass (controller/partition/).
   */
  regionCounts(window: WindowName): Map<string, [number, number]> {
    const from = this.now() - WINDOWS[window];
    const out = new Map<string, [number, number]>();
    for (const [region, s] of this.rollups.region) {
      let count = 0;
      let probeError = 0;
      for (let i = s.buckets.length - 1; i >= 0; i--) {
        const b = s.buckets[i] as Bucket;
        if (b.start + BUCKET_MS <= from) break;
        count += b.count;
        probeError += b.probeError;
      }
      if (count) out.set(region, [count, probeError]);
    }
    return out;
  }

  /** Cumulative totals of one series (target x region x probe), if it is held here. */
  totalsOf(target: string, region: string, probe: string): Totals | undefined {
    return this.series.get(seriesKey(target, region, probe))?.totals;
  }

  /** /v1/series before finishing: a target's buckets per region and step (merged across replicas). */
  timelineBuckets(q: {
    target: string;
    region?: string;
    probe?: ProbeKind;
    fromMs: number;
    stepMs: number;
  }): {
    times: number[];
    rows: Map<string, (Bucket | undefined)[]>;
  } {
    const from = Math.floor(q.fromMs / BUCKET_MS) * BUCKET_MS;
    const steps = Math.max(1, Math.ceil((this.now() - from) / q.stepMs));
    const times = Array.from({ length: steps }, (_, i) => from + i * q.stepMs);
    const rows = new Map<string, (Bucket | undefined)[]>();
    for (const s of this.series.values()) {
      if (s.target !== q.target || (q.region && s.region !== q.region) || (q.probe && s.probe !== q.probe))
        continue;
      let row = rows.get(s.region);
      if (!row) {
        row = new Array(steps).fill(undefined);
        rows.set(s.region, row);
      }
      for (const b of s.buckets) {
        if (b.start < from) continue;
        const i = Math.floor((b.start - from) / q.stepMs);
        if (i >= steps) continue;
        let into = row[i];
        if (!into) {
          into = emptyBucket(0);
          row[i] = into;
        }
        mergeInto(into, b);
      }
    }
    return { times, rows };
  }

  /** Unfiltered region/probe/target groupings read the rollups; everything else the series. */
  private plan(q: SummaryQuery): { source: Iterable<Series>; keyOf: (s: Series) => string | undefined } {
    // One target's query (alerting asks one per target and rule window) reads that target's series only,
    // not every series of the fleet: at 100k series that is the difference between microseconds and ms.
    const all = q.target ? this.seriesOfTarget(q.target) : this.series.values();
    if (q.groupBy.startsWith('label:')) {
      const name = q.groupBy.slice('label:'.length);
      // Series of targets without the label are left out: they are not part of the comparison.
      return { source: all, keyOf: (s) => this.opts.labelsOf?.(s.target)?.[name] };
    }
    const groupBy = q.groupBy as (typeof GROUP_BY)[number];
    const unfiltered = !q.target && !q.region && !q.probe;
    if (unfiltered && (groupBy === 'region' || groupBy === 'probe' || groupBy === 'target')) {
      return { source: this.rollups[groupBy].values(), keyOf: (s) => s[groupBy] };
    }
    return { source: all, keyOf: (s) => s[groupBy] };
  }

  /** A target's series (every region and probe kind), from the ingest index. */
  private seriesOfTarget(target: string): Series[] {
    const regions = this.index.get(target);
    if (!regions) return [];
    const out: Series[] = [];
    for (const kinds of regions.values()) for (const s of kinds) out.push(s);
    return out;
  }

  /**
   * Summary for the API: served from a cache at most `cacheMs` old (default 1 s), recomputed in slices
   * that yield to the event loop (stale-while-revalidate), so a dashboard poll on 100k series never
   * stalls the requests around it. The first request for a query waits for its computation.
   */
  async summaryCached(q: SummaryQuery): Promise<SummaryGroup[]> {
    const key = `${q.window}|${q.groupBy}|${q.target ?? ''}|${q.region ?? ''}|${q.probe ?? ''}`;
    const now = this.now();
    let entry = this.cache.get(key);
    if (entry?.groups && now - entry.at < (this.opts.cacheMs ?? 1000)) return entry.groups;
    if (!entry?.refreshing) {
      if (this.cache.size > 1000) this.cache.clear();
      const refreshing = this.computeSliced(q).then((groups) => {
        this.cache.set(key, { at: this.now(), groups, refreshing: undefined });
        return groups;
      });
      entry = { at: entry?.at ?? 0, groups: entry?.groups, refreshing };
      this.cache.set(key, entry);
    }
    return entry.groups ?? (entry.refreshing as Promise<SummaryGroup[]>);
  }

  private async computeSliced(q: SummaryQuery): Promise<SummaryGroup[]> {
    const { source, keyOf } = this.plan(q);
    const all = [...source];
    const acc = new Map<string, Bucket>();
    const from = this.now() - WINDOWS[q.window];
    for (let i = 0; i < all.length; i += SLICE) {
      this.accumulate(all.slice(i, i + SLICE), q, from, keyOf, acc);
      if (i + SLICE < all.length) await new Promise((r) => setImmediate(r));
    }
    return finish(acc);
  }

  /**
   * One summary per series (target x region x probe) plus its totals since the series appeared: what
   * /metrics exposes, computed at scrape time so ingest pays nothing for Prometheus.
   */
  perSeries(
    window: WindowName,
    wanted?: (target: string, region: string, probe: ProbeKind) => boolean,
  ): { target: string; region: string; probe: ProbeKind; summary: SummaryGroup; totals: Totals }[] {
    const now = this.now();
    // `wanted`: the series /metrics exports (bounded), so a scrape merges and finishes only those.
    return this.compute({ window, groupBy: 'target' }, now, (s) =>
      wanted && !wanted(s.target, s.region, s.probe) ? undefined : seriesKey(s.target, s.region, s.probe),
    ).map((summary) => {
      const s = this.series.get(summary.key) as Series;
      return { target: s.target, region: s.region, probe: s.probe, summary, totals: s.totals };
    });
  }

  /** One summary per target x region, probe kinds together: the command-center board's cells. */
  cells(window: WindowName): { target: string; region: string; summary: SummaryGroup }[] {
    return this.compute({ window, groupBy: 'target' }, this.now(), (s) => `${s.target}\u0000${s.region}`).map(
      (summary) => {
        const [target = '', region = ''] = summary.key.split('\u0000');
        return { target, region, summary: { ...summary, key: `${target}/${region}` } };
      },
    );
  }

  /**
   * A target's history in steps of `stepMs` (a multiple of the 15 s bucket) from `fromMs`, one summary
   * per region per step (undefined where the region had no report): /v1/series.
   */
  timeline(q: { target: string; region?: string; probe?: ProbeKind; fromMs: number; stepMs: number }): {
    times: number[];
    regions: { region: string; steps: (SummaryGroup | undefined)[] }[];
  } {
    const from = Math.floor(q.fromMs / BUCKET_MS) * BUCKET_MS;
    const steps = Math.max(1, Math.ceil((this.now() - from) / q.stepMs));
    const times = Array.from({ length: steps }, (_, i) => from + i * q.stepMs);
    const acc = new Map<string, (Bucket | undefined)[]>();
    for (const s of this.seriesOfTarget(q.target)) {
      if (s.target !== q.target || (q.region && s.region !== q.region) || (q.probe && s.probe !== q.probe))
        continue;
      let row = acc.get(s.region);
      if (!row) {
        row = new Array(steps).fill(undefined);
        acc.set(s.region, row);
      }
      for (const b of s.buckets) {
        if (b.start < from) continue;
        const i = Math.floor((b.start - from) / q.stepMs);
        if (i >= steps) continue;
        let into = row[i];
        if (!into) {
          into = emptyBucket(0);
          row[i] = into;
        }
        mergeInto(into, b);
      }
    }
    return {
      times,
      regions: [...acc.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([region, row]) => ({
          region,
          steps: row.map((b) => (b ? finish(new Map([[region, b]]))[0] : undefined)),
        })),
    };
  }

  private compute(q: SummaryQuery, now: number, keyOf: (s: Series) => string | undefined): SummaryGroup[] {
    const acc = new Map<string, Bucket>();
    this.accumulate(this.series.values(), q, now - WINDOWS[q.window], keyOf, acc);
    return finish(acc);
  }

  private accumulate(
    series: Iterable<Series>,
    q: SummaryQuery,
    from: number,
    keyOf: (s: Series) => string | undefined,
    acc: Map<string, Bucket>,
    only?: MetricMask,
  ): void {
    for (const s of series) {
      if (
        (q.target && s.target !== q.target) ||
        (q.region && s.region !== q.region) ||
        (q.probe && s.probe !== q.probe)
      ) {
        continue;
      }
      const key = keyOf(s);
      if (key === undefined) continue;
      for (let i = s.buckets.length - 1; i >= 0; i--) {
        const b = s.buckets[i] as Bucket;
        if (b.start + BUCKET_MS <= from) break;
        let g = acc.get(key);
        if (!g) {
          g = emptyBucket(0);
          acc.set(key, g);
        }
        mergeInto(g, b, only);
      }
    }
  }
}

/** Which SKETCHED metrics a summary computes (by SKETCHED index); see Aggregator.summary. */
export type MetricMask = readonly boolean[];

export function metricMask(names: Iterable<string>): MetricMask {
  const want = new Set(names);
  return SKETCHED.map((n) => want.has(n));
}

/** Group accumulators -> API groups, sorted by key; `only`: the sketched metrics to compute. */
export function finish(acc: Map<string, Bucket>, only?: MetricMask): SummaryGroup[] {
  return [...acc.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, t]) => {
      const judged = t.ok + t.degraded + t.failed;
      const metrics: Partial<Record<SketchedMetric, MetricSummary>> = {};
      SKETCHED.forEach((name, i) => {
        if (only && !only[i]) return;
        const samples = t.samples?.[i];
        if (samples && samples.count > 0 && !t.unsampled?.[i]) {
          metrics[name] = { ...quantiles(samples), of: 'samples' };
          return;
        }
        const sk = t.sketches?.[i];
        if (sk && sk.count > 0) metrics[name] = { ...quantiles(sk), of: 'reports' };
      });
      return {
        key,
        count: t.count,
        outcomes: { ok: t.ok, degraded: t.degraded, failed: t.failed, 'probe-error': t.probeError },
        success_ratio: judged ? round4((t.ok + t.degraded) / judged) : null,
        rebuffer_ratio: t.rebufferDurationMs ? round4(t.rebufferWeighted / t.rebufferDurationMs) : null,
        errors: {
          http: t.errorsHttp,
          network: t.errorsNetwork,
          player: t.errorsPlayer,
          conformance: t.errorsConformance,
        },
        metrics,
        findings: { ...t.findings },
        sums: {
          frozen_ms: round1(t.frozenMs),
          black_ms: round1(t.blackMs),
          dropped_frames: t.droppedFrames,
          total_frames: t.totalFrames,
          segments_total: t.segmentsTotal,
          clock_skew_negative: t.clockSkewNegative,
        },
      };
    });
}

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
const round1 = (v: number) => Math.round(v * 10) / 10;

/**
 * What one report adds to a bucket, read from the report once for the four buckets it goes into (its
 * series and three rollups). One scratch object, refilled per report: add() is synchronous.
 */
const sample = {
  outcome: 'ok' as Report['outcome'],
  http: 0,
  network: 0,
  player: 0,
  conformance: 0,
  findings: [] as Report['findings'],
  rebuffer: false,
  rebufferWeighted: 0,
  durationMs: 0,
  frozenMs: 0,
  blackMs: 0,
  droppedFrames: 0,
  totalFrames: 0,
  segmentsTotal: 0,
  clockSkewNegative: 0,
  /** Per SKETCHED metric; NaN where the report has none (or it must not count). */
  values: new Float64Array(SKETCHED.length),
  /** Per SKETCHED metric with a value: its sketch key (keyOf), computed once for the four buckets. */
  keys: new Float64Array(SKETCHED.length),
  /** The same key packed with the metric's index (codeOf), what a series' small bucket keeps. Int32: a Smi. */
  codes: new Int32Array(SKETCHED.length),
  /**
   * Per sampled metric (SAMPLE_OF): the report's own sketch of its samples, decoded once (into scratch
   * reused for every report) for the four buckets; undefined where the report sent none, an empty or a
   * malformed one (the figure counts, its samples not).
   */
  samples: new Array<SketchScratch | undefined>(SKETCHED.length).fill(undefined),
};
/** One decoding scratch per SKETCHED index (only the sampled ones are used). */
const SCRATCH = SKETCHED.map(() => new SketchScratch());
/** SKETCHED metrics that also carry the report's samples (SAMPLE_OF). */
const SAMPLED = SKETCHED.map((name) => SAMPLE_OF[name] !== undefined);
/** By SKETCHED index: the sample name (SAMPLE_OF), and whether the figure is clock-dependent. */
const SAMPLE_AT = SKETCHED.map((name) => SAMPLE_OF[name]);
const CLOCK_DEPENDENT_AT = SKETCHED.map((name) => CLOCK_DEPENDENT.has(name));
/** A report's SKETCHED figures into `values`, NaN where absent (named loads: shared/field-reader.ts). */
const readSketched = fieldReader(SKETCHED);
const NO_FINDINGS: Report['findings'] = [];

/** `durationMs`: the report's duration, the weight of its rebuffer ratio (0 when it has none). */
function prepare(report: ReportCore, durationMs: number): typeof sample {
  const m = report.metrics;
  sample.outcome = report.outcome;
  sample.http = m.errors_http ?? 0;
  sample.network = m.errors_network ?? 0;
  sample.player = m.errors_player ?? 0;
  sample.conformance = m.errors_conformance ?? 0;
  // A probe-error (our own failure, or an inconclusive report: the probe ran late) says nothing about the
  // stream: its findings and figures never reach a stream alert. Its outcome is still counted.
  const ours = report.outcome === 'probe-error';
  const clockSuspect = report.flags?.includes('clock-suspect') === true;
  sample.findings = ours ? NO_FINDINGS : report.findings;
  sample.rebuffer = m.rebuffer_ratio !== undefined;
  sample.rebufferWeighted = (m.rebuffer_ratio ?? 0) * durationMs;
  sample.durationMs = durationMs;
  sample.frozenMs = ours ? 0 : (m.frozen_ms ?? 0);
  sample.blackMs = ours ? 0 : (m.black_ms ?? 0);
  sample.droppedFrames = ours ? 0 : (m.dropped_frames ?? 0);
  sample.totalFrames = ours ? 0 : (m.total_frames ?? 0);
  sample.segmentsTotal = ours ? 0 : (m.segments_total ?? 0);
  sample.clockSkewNegative = ours ? 0 : (m.clock_skew_negative ?? 0);
  const values = sample.values;
  readSketched(m, values);
  for (let i = 0; i < SKETCHED.length; i++) {
    const v = values[i] as number;
    const counts = !(ours || Number.isNaN(v) || (clockSuspect && CLOCK_DEPENDENT_AT[i]));
    if (!counts) values[i] = Number.NaN;
    else {
      const key = keyOf(v);
      sample.keys[i] = key;
      sample.codes[i] = codeOf(i, key);
    }
    sample.samples[i] =
      counts && SAMPLED[i]
        ? decodeSamples(report.sketches?.[SAMPLE_AT[i] as SampleName], SCRATCH[i] as SketchScratch)
        : undefined;
  }
  return sample;
}

function addToBucket(b: Bucket, r: typeof sample): void {
  b.count++;
  if (r.outcome === 'probe-error') b.probeError++;
  else b[r.outcome]++;
  b.errorsHttp += r.http;
  b.errorsNetwork += r.network;
  b.errorsPlayer += r.player;
  b.errorsConformance += r.conformance;
  const findings = r.findings;
  for (let i = 0; i < findings.length; i++) {
    const f = findings[i] as Report['findings'][number];
    b.findings ??= {};
    b.findings[f.code] = (b.findings[f.code] ?? 0) + f.count;
  }
  if (r.rebuffer) {
    b.rebufferWeighted += r.rebufferWeighted;
    b.rebufferDurationMs += r.durationMs;
  }
  b.frozenMs += r.frozenMs;
  b.blackMs += r.blackMs;
  b.droppedFrames += r.droppedFrames;
  b.totalFrames += r.totalFrames;
  b.segmentsTotal += r.segmentsTotal;
  b.clockSkewNegative += r.clockSkewNegative;
  const values = r.values;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) continue;
    if (SAMPLED[i]) addSamples(b, i, r.samples[i]);
    if (b.sketches) addKeyed(b, i, v, r.keys[i] as number);
    else {
      b.keys ??= [];
      b.keys.push(r.codes[i] as number);
    }
  }
  if (b.keys && b.keys.length > KEYS_MAX) {
    const keys = b.keys;
    b.keys = undefined;
    b.sketches = [];
    for (let j = 0; j < keys.length; j++) addCode(b, keys[j] as number);
  }
}

/** A report's wire sketch of its samples, decoded into `into`; undefined when absent, empty or malformed. */
function decodeSamples(wire: string | undefined, into: SketchScratch): SketchScratch | undefined {
  if (wire === undefined) return undefined;
  // Malformed: the figure counts, its samples do not (the group says of: reports).
  return into.read(wire) && into.count > 0 ? into : undefined;
}

/** Adds a report's decoded samples of metric i to the bucket, or notes that its figure came without. */
function addSamples(b: Bucket, i: number, decoded: SketchScratch | undefined): void {
  if (!decoded) {
    b.unsampled ??= [];
    b.unsampled[i] = (b.unsampled[i] ?? 0) + 1;
    return;
  }
  b.samples ??= [];
  let into = b.samples[i];
  if (!into) {
    into = newSketch();
    b.samples[i] = into;
  }
  decoded.mergeInto(into);
}

function addKeyed(b: Bucket, i: number, v: number, key: number): void {
  b.sketches ??= [];
  let sk = b.sketches[i];
  if (!sk) {
    sk = newSketch();
    b.sketches[i] = sk;
  }
  acceptKeyed(sk, v, key);
}

function addCode(b: Bucket, code: number): void {
  const i = metricOfCode(code);
  b.sketches ??= [];
  let sk = b.sketches[i];
  if (!sk) {
    sk = newSketch();
    b.sketches[i] = sk;
  }
  acceptCode(sk, code);
}

/** Group accumulators always use sketches; `only`: the sketched metrics merged (default all). */
export function mergeInto(into: Bucket, b: Bucket, only?: MetricMask): void {
  into.count += b.count;
  into.ok += b.ok;
  into.degraded += b.degraded;
  into.failed += b.failed;
  into.probeError += b.probeError;
  into.errorsHttp += b.errorsHttp;
  into.errorsNetwork += b.errorsNetwork;
  into.errorsPlayer += b.errorsPlayer;
  into.errorsConformance += b.errorsConformance;
  into.rebufferWeighted += b.rebufferWeighted;
  into.rebufferDurationMs += b.rebufferDurationMs;
  into.frozenMs += b.frozenMs;
  into.blackMs += b.blackMs;
  into.droppedFrames += b.droppedFrames;
  into.totalFrames += b.totalFrames;
  into.segmentsTotal += b.segmentsTotal;
  into.clockSkewNegative += b.clockSkewNegative;
  if (b.unsampled) {
    into.unsampled ??= [];
    b.unsampled.forEach((n, i) => {
      if (n) (into.unsampled as number[])[i] = ((into.unsampled as number[])[i] ?? 0) + n;
    });
  }
  if (b.samples) {
    into.samples ??= [];
    b.samples.forEach((sk, i) => {
      if (!sk || (only && !only[i])) return;
      const samples = into.samples as (DDSketch | undefined)[];
      let target = samples[i];
      if (!target) {
        target = newSketch();
        samples[i] = target;
      }
      target.merge(sk);
    });
  }
  if (b.findings) {
    into.findings ??= {};
    for (const [code, n] of Object.entries(b.findings) as [FindingCode, number][]) {
      into.findings[code] = (into.findings[code] ?? 0) + n;
    }
  }
  if (b.keys) {
    const keys = b.keys;
    for (let j = 0; j < keys.length; j++) {
      const code = keys[j] as number;
      if (!only || only[metricOfCode(code)]) addCode(into, code);
    }
  }
  if (b.sketches) {
    into.sketches ??= [];
    for (let i = 0; i < SKETCHED.length; i++) {
      const sk = b.sketches[i];
      if (!sk || (only && !only[i])) continue;
      let target = into.sketches[i];
      if (!target) {
        target = newSketch();
        into.sketches[i] = target;
      }
      target.merge(sk);
    }
  }
}

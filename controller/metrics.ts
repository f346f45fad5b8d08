import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from 'prom-client';
import type { MetricName } from '../shared/metrics.js';
import type { ReportCore } from '../shared/report-core.js';
import { VERSION } from '../shared/version.js';
import { type Aggregator, seriesKey, type WindowName } from './aggregate/aggregator.js';
import type { RegionCapacity } from './fleet.js';

/**
 * A latency-like report figure exported as a histogram per target x region x probe. Buckets are chosen per
 * figure from what a live-video operator alerts on (docs/reference/metrics.md gives the reasoning): tight
 * around the usual SLO edges, a few wide ones beyond so a tail stays visible. prom-client has no native
 * (sparse) histograms, so these are classic histograms.
 */
export interface HistogramSpec {
  metric: MetricName;
  name: string;
  help: string;
  /** Report unit -> Prometheus base unit. */
  scale: number;
  buckets: number[];
}

/** Players give up, and viewers leave, between 2 and 10 s; the buckets are dense there. */
const LIVE_LATENCY_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60];

export const HISTOGRAMS: readonly HistogramSpec[] = [
  {
    metric: 'startup_ms',
    name: 'liveprobe_startup_seconds',
    help: 'Browser probe: loadSource -> first frame presented, playhead advancing',
    scale: 1e-3,
    buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 10, 20],
  },
  {
    metric: 'manifest_ms',
    name: 'liveprobe_manifest_seconds',
    help: 'Browser probe: loadSource -> master playlist / MPD loaded',
    scale: 1e-3,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
  },
  {
    metric: 'first_segment_ms',
    name: 'liveprobe_first_segment_seconds',
    help: 'Browser probe: loadSource -> first media segment fully loaded',
    scale: 1e-3,
    buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10],
  },
  {
    metric: 'segment_ttfb_p50_ms',
    name: 'liveprobe_segment_ttfb_seconds',
    help: 'Segment request start -> first byte (one observation per report: its median)',
    scale: 1e-3,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  },
  {
    metric: 'segment_download_p50_ms',
    name: 'liveprobe_segment_download_seconds',
    help: 'Segment request start -> last byte (one observation per report: its median)',
    scale: 1e-3,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
  },
  {
    metric: 'segment_throughput_p50_kbps',
    name: 'liveprobe_segment_throughput_bytes_per_second',
    help: 'Segment bytes / download time (one observation per report: its median)',
    scale: 1000 / 8,
    buckets: [62_500, 125_000, 250_000, 500_000, 1e6, 2e6, 4e6, 8e6, 16e6],
  },
  {
    metric: 'segment_availability_delay_p50_ms',
    name: 'liveprobe_segment_availability_delay_seconds',
    help: 'Stream probe: segment first seen in the playlist - (PDT + duration); le="0" counts early ones',
    scale: 1e-3,
    buckets: [0, 0.5, 1, 2, 4, 6, 10, 20, 60],
  },
  {
    metric: 'g2g_p50_ms',
    name: 'liveprobe_g2g_seconds',
    help: 'Glass-to-glass latency from the in-frame clock (one observation per report: its median)',
    scale: 1e-3,
    buckets: LIVE_LATENCY_BUCKETS,
  },
  {
    metric: 'pdt_latency_p50_ms',
    name: 'liveprobe_pdt_latency_seconds',
    help: 'now - playing EXT-X-PROGRAM-DATE-TIME (one observation per report: its median)',
    scale: 1e-3,
    buckets: LIVE_LATENCY_BUCKETS,
  },
  {
    metric: 'dash_latency_p50_ms',
    name: 'liveprobe_dash_latency_seconds',
    help: 'dash.js live latency (one observation per report: its median)',
    scale: 1e-3,
    buckets: LIVE_LATENCY_BUCKETS,
  },
  {
    metric: 'stall_ms',
    name: 'liveprobe_stall_seconds',
    help: 'Browser probe: stalled time per report; le="0" counts reports without a stall',
    scale: 1e-3,
    buckets: [0, 0.5, 1, 2, 5, 10, 30, 60],
  },
  {
    // Issue #21: renditions that lie. Dense around 1 (the declared figure) where the 10 % tolerance sits.
    metric: 'bandwidth_peak_ratio',
    name: 'liveprobe_bandwidth_peak_ratio',
    help: 'Stream probe: highest measured segment bitrate / declared BANDWIDTH (DASH @bandwidth) per report',
    scale: 1,
    buckets: [0.5, 0.8, 1, 1.1, 1.25, 1.5, 2, 3, 5],
  },
  {
    metric: 'silent_ms',
    name: 'liveprobe_silent_seconds',
    help: 'Browser probe: audio below the silence threshold while the stream carried audio, per report; le="0" counts reports without silence',
    scale: 1e-3,
    buckets: [0, 0.5, 1, 2, 5, 10, 30, 60],
  },
  {
    metric: 'audio_missing_ms',
    name: 'liveprobe_audio_missing_seconds',
    help: 'Browser probe: declared audio not playing while the picture had data, per report',
    scale: 1e-3,
    buckets: [0, 0.5, 1, 2, 5, 10, 30, 60],
  },
  {
    metric: 'av_offset_abs_ms',
    name: 'liveprobe_av_offset_abs_seconds',
    help: 'Browser probe: |audio - video| presentation offset (median per report; av_method marker or buffer)',
    scale: 1e-3,
    // Lip sync is noticed around 45 ms (audio early) to 125 ms (audio late); 200 ms is the shipped rule.
    buckets: [0.02, 0.045, 0.09, 0.125, 0.2, 0.3, 0.5, 1, 2],
  },
];

/** Controller API request durations: most answers take milliseconds, a summary over 100k series ~100 ms. */
export const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const SERIES_LABELS = ['target', 'region', 'probe'] as const;
const OUTCOMES = ['ok', 'degraded', 'failed', 'probe-error'] as const;
const ERROR_CATEGORIES = [
  ['http', 'errors_http'],
  ['network', 'errors_network'],
  ['player', 'errors_player'],
  ['conformance', 'errors_conformance'],
] as const;

/** A series idle this long is dropped from /metrics (its counters restart at 0 if it comes back). */
const SERIES_IDLE_MS = 2 * 3_600_000;

export interface MetricsOptions {
  /** Target labels exported as extra labels on the per-series metrics (config controller.metricsTargetLabels). */
  targetLabels?: readonly string[];
  /** Labels of a target, for targetLabels; undefined for an ad hoc target. */
  labelsOf?: (targetId: string) => Record<string, string> | undefined;
  /** Bound of target x region x probe series (config controller.metricsMaxSeries). */
  maxSeries?: number;
  /** Read the rebuffer gauge from this window of the aggregator. */
  window?: WindowName;
}

type Labels = LabelValues<string>;

/** One target x region x probe series: plain numbers, so an observation is a bucket search and adds. */
interface SeriesState {
  labels: Labels;
  lastSeen: number;
  /** Per HISTOGRAMS entry: non-cumulative counts, one per bucket plus +Inf (allocated on first use). */
  buckets: (Float64Array | undefined)[];
  sums: Float64Array;
  counts: Float64Array;
  outcomes: Float64Array;
  errors: Float64Array;
  findings: Map<string, number>;
  success: number;
  /** endedAt of the last report (parsed at scrape time, not per report). */
  lastEnded: string;
}

interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * A metric family read from the series map at scrape time, registered as is: prom-client's own
 * label-keyed children hash their labels on every observation, which cost more per report than
 * validating it; here ingest only touches numbers, and labels are formatted once per scrape.
 */
class SeriesFamily {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Sample[],
  ) {}
  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.read(),
    };
  }
  reset(): void {}
}

/**
 * The controller's Prometheus registry. Report figures are observed once per live-ingested report (not
 * the start-up replay: a counter that jumped by an hour of reports after a restart would fake a rate
 * spike) into per-series arrays; fleet, ingest and alerting figures are read at scrape time from their
 * owners.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly series = new Map<string, SeriesState>();
  /** The same series by target, then region (probe kinds side by side): no key string built per report. */
  private readonly index = new Map<string, Map<string, SeriesState[]>>();
  private readonly extra: readonly string[];
  /** Reports dropped at the series limit since the counter was last read. */
  private readonly dropped = { n: 0 };
  private readonly http: Histogram<string>;

  constructor(
    aggregator: Pick<Aggregator, 'perSeries'>,
    private readonly opts: MetricsOptions = {},
  ) {
    const registers = [this.registry];
    this.extra = opts.targetLabels ?? [];
    const labelNames = [...SERIES_LABELS, ...this.extra];
    collectDefaultMetrics({ register: this.registry });
    // These three are gauges named _total (promtool rejects that); the same figures stay exported, by
    // type, as nodejs_active_handles / _requests / _resources.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ])
      this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'liveprobe_build_info',
      help: 'Always 1; the labels say which liveprobe and Node.js run this controller',
      labelNames: ['version', 'nodejs_version'],
      registers,
    }).set({ version: VERSION, nodejs_version: process.versions.node }, 1);

    const all = () => this.series.values();
    const family = (name: string, help: string, type: SeriesFamily['type'], read: () => Sample[]) =>
      this.registry.registerMetric(new SeriesFamily(name, help, type, read) as unknown as Gauge<string>);
    HISTOGRAMS.forEach((h, i) => {
      family(h.name, h.help, 'histogram', () => {
        const out: Sample[] = [];
        for (const s of all()) {
          const counts = s.buckets[i];
          if (!counts) continue;
          let acc = 0;
          h.buckets.forEach((le, b) => {
            acc += counts[b] as number;
            out.push({ labels: { le, ...s.labels }, value: acc, metricName: `${h.name}_bucket` });
          });
          const n = s.counts[i] as number;
          out.push({ labels: { le: '+Inf', ...s.labels }, value: n, metricName: `${h.name}_bucket` });
          out.push({ labels: s.labels, value: s.sums[i] as number, metricName: `${h.name}_sum` });
          out.push({ labels: s.labels, value: n, metricName: `${h.name}_count` });
        }
        return out;
      });
    });
    // Every outcome and category exists from a series' first report on, so rate() sees the first failure.
    family('liveprobe_reports_total', 'Probe reports ingested, by outcome', 'counter', () =>
      [...all()].flatMap((s) =>
        OUTCOMES.map((outcome, k) => ({ labels: { ...s.labels, outcome }, value: s.outcomes[k] as number })),
      ),
    );
    family(
      'liveprobe_errors_total',
      'Errors seen by probes, by category (http, network, player, conformance)',
      'counter',
      () =>
        [...all()].flatMap((s) =>
          ERROR_CATEGORIES.map(([category], k) => ({
            labels: { ...s.labels, category },
            value: s.errors[k] as number,
          })),
        ),
    );
    family(
      'liveprobe_findings_total',
      'Stream conformance findings, by code (collapsed repeats counted)',
      'counter',
      () =>
        [...all()].flatMap((s) =>
          [...s.findings].map(([code, value]) => ({ labels: { ...s.labels, code }, value })),
        ),
    );
    family(
      'liveprobe_probe_success',
      "1 if the series' last report was ok or degraded, 0 if it failed or the probe itself erred (like blackbox_exporter's probe_success)",
      'gauge',
      () => [...all()].map((s) => ({ labels: s.labels, value: s.success })),
    );
    family(
      'liveprobe_probe_last_report_timestamp_seconds',
      "When the series' last report ended (Unix time)",
      'gauge',
      () => [...all()].map((s) => ({ labels: s.labels, value: Date.parse(s.lastEnded) / 1000 })),
    );
    const dropped = this.dropped;
    new Counter({
      name: 'liveprobe_metrics_series_dropped_reports_total',
      help: 'Reports not exported because the series limit (controller.metricsMaxSeries) was reached',
      registers,
      // Counted in a plain number on the ingest path (past the limit, that is most reports of a large
      // fleet) and handed to the counter when it is read.
      collect() {
        if (dropped.n) this.inc(dropped.n);
        dropped.n = 0;
      },
    });
    const window = opts.window ?? '5m';
    const seriesMap = this.series;
    let snapshot: ReturnType<Aggregator['perSeries']> = [];
    let snapshotAt = 0;
    const extra = this.extra;
    const labelsOf = opts.labelsOf;
    new Gauge({
      name: 'liveprobe_rebuffer_ratio',
      help: `Stall time / (stall + playing time), duration-weighted over the last ${window}`,
      labelNames,
      registers,
      collect() {
        if (Date.now() - snapshotAt > 500) {
          // The exported series only (controller.metricsMaxSeries): at 100 000 series, every series'
          // summary took ~6-9 s of the event loop and the gauge made the exposition 68 MB.
          snapshot = aggregator.perSeries(window, (target, region, probe) =>
            seriesMap.has(seriesKey(target, region, probe)),
          );
          snapshotAt = Date.now();
        }
        this.reset();
        for (const s of snapshot) {
          if (s.summary.rebuffer_ratio === null) continue;
          const own = labelsOf?.(s.target);
          const labels: Labels = { target: s.target, region: s.region, probe: s.probe };
          for (const l of extra) labels[l] = own?.[l] ?? '';
          this.set(labels, s.summary.rebuffer_ratio);
        }
      },
    });
    new Gauge({
      name: 'liveprobe_metrics_series',
      help: 'target x region x probe series currently exported (bounded by controller.metricsMaxSeries)',
      registers,
      collect() {
        this.set(seriesMap.size);
      },
    });
    this.http = new Histogram({
      name: 'liveprobe_http_request_duration_seconds',
      help: 'Controller API requests, by route template, method and status code (the SSE feed excluded)',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** Called for every report ingested live. */
  observe(report: ReportCore, now = Date.now()): void {
    // A watch's summary (seq 0) re-counts the period its interval reports already covered.
    if (report.mode === 'watch' && report.seq === 0) return;
    const s = this.seriesFor(report, now);
    if (!s) return;
    s.lastSeen = now;
    const m = report.metrics;
    for (let i = 0; i < HISTOGRAMS.length; i++) {
      const spec = HISTOGRAMS[i] as HistogramSpec;
      const raw = m[spec.metric];
      if (raw === undefined) continue;
      const v = raw * spec.scale;
      const bounds = spec.buckets;
      let counts = s.buckets[i];
      if (!counts) {
        counts = new Float64Array(bounds.length + 1);
        s.buckets[i] = counts;
      }
      let b = 0;
      while (b < bounds.length && v > (bounds[b] as number)) b++;
      counts[b] = (counts[b] as number) + 1;
      s.sums[i] = (s.sums[i] as number) + v;
      s.counts[i] = (s.counts[i] as number) + 1;
    }
    const o = OUTCOMES.indexOf(report.outcome);
    s.outcomes[o] = (s.outcomes[o] as number) + 1;
    s.success = report.outcome === 'ok' || report.outcome === 'degraded' ? 1 : 0;
    s.lastEnded = report.endedAt;
    for (let k = 0; k < ERROR_CATEGORIES.length; k++) {
      const n = m[(ERROR_CATEGORIES[k] as (typeof ERROR_CATEGORIES)[number])[1]];
      if (n) s.errors[k] = (s.errors[k] as number) + n;
    }
    for (const f of report.findings) s.findings.set(f.code, (s.findings.get(f.code) ?? 0) + f.count);
  }

  private seriesFor(report: ReportCore, now: number): SeriesState | undefined {
    let regions = this.index.get(report.target.id);
    const kinds = regions?.get(report.region);
    if (kinds) {
      for (let i = 0; i < kinds.length; i++) {
        const known = kinds[i] as SeriesState;
        if (known.labels.probe === report.probe) return known;
      }
    }
    if (this.series.size >= (this.opts.maxSeries ?? 5000)) {
      this.dropped.n++;
      return undefined;
    }
    const labels: Labels = { target: report.target.id, region: report.region, probe: report.probe };
    const own = this.opts.labelsOf?.(report.target.id);
    for (const l of this.extra) labels[l] = own?.[l] ?? '';
    const s: SeriesState = {
      labels,
      lastSeen: now,
      buckets: [],
      sums: new Float64Array(HISTOGRAMS.length),
      counts: new Float64Array(HISTOGRAMS.length),
      outcomes: new Float64Array(OUTCOMES.length),
      errors: new Float64Array(ERROR_CATEGORIES.length),
      findings: new Map(),
      success: 1,
      lastEnded: report.endedAt,
    };
    this.series.set(seriesKey(report.target.id, report.region, report.probe), s);
    if (!regions) {
      regions = new Map();
      this.index.set(report.target.id, regions);
    }
    if (kinds) kinds.push(s);
    else regions.set(report.region, [s]);
    return s;
  }

  /**
   * Partitioned: whether this replica exports the fleet-wide gauges (agents, alerts), which every replica
   * knows alike. One replica (the alerting lease holder) does, so that summing any liveprobe_* family over
   * the scraped replicas gives the fleet's figure (docs/operations/scale-out.md).
   */
  exportsFleet: () => boolean = () => true;

  /**
   * Drops every series of the targets `gone` matches: partitioned, a partition handed to another replica
   * is exported from there from now on (and counted once when Prometheus sums the replicas).
   */
  forget(gone: (target: string) => boolean): void {
    for (const [target, regions] of this.index) {
      if (!gone(target)) continue;
      for (const kinds of regions.values())
        for (const s of kinds)
          this.series.delete(seriesKey(target, String(s.labels.region), String(s.labels.probe)));
      this.index.delete(target);
    }
  }

  /** Drops series without a report for SERIES_IDLE_MS: what keeps deleted targets from piling up. */
  evict(now = Date.now()): void {
    for (const [key, s] of this.series) {
      if (now - s.lastSeen < SERIES_IDLE_MS) continue;
      this.series.delete(key);
      const target = String(s.labels.target);
      const region = String(s.labels.region);
      const regions = this.index.get(target);
      const kinds = regions?.get(region)?.filter((k) => k !== s);
      if (!regions || !kinds) continue;
      if (kinds.length) regions.set(region, kinds);
      else regions.delete(region);
      if (regions.size === 0) this.index.delete(target);
    }
  }

  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    this.http.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  /** Ingest loop counters and the JetStream consumer's backlog (read at scrape time). */
  trackIngest(
    stats: { ingested: number; invalid: number; redelivered: number },
    consumer?: () => Promise<{ pending: number; ackPending: number } | undefined>,
  ): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counter(
      'liveprobe_ingest_reports_total',
      'Reports ingested live since start (distinct ids)',
      () => stats.ingested,
    );
    counter(
      'liveprobe_ingest_invalid_total',
      'Results-stream messages that failed validation (acked past, never redelivered)',
      () => stats.invalid,
    );
    counter(
      'liveprobe_ingest_redelivered_total',
      'Redelivered reports skipped as already counted',
      () => stats.redelivered,
    );
    if (!consumer) return;
    let cached: Promise<{ pending: number; ackPending: number } | undefined> | undefined;
    let cachedAt = 0;
    // One consumer-info request per scrape, shared by both gauges; a failed request exports nothing.
    const info = () => {
      if (!cached || Date.now() - cachedAt > 500) {
        cachedAt = Date.now();
        cached = consumer().catch(() => undefined);
      }
      return cached;
    };
    new Gauge({
      name: 'liveprobe_ingest_consumer_pending_messages',
      help: 'Results-stream messages not yet delivered to the ingest consumer: the ingest lag',
      registers,
      async collect() {
        this.reset();
        const i = await info();
        if (i) this.set(i.pending);
      },
    });
    new Gauge({
      name: 'liveprobe_ingest_consumer_ack_pending_messages',
      help: 'Messages delivered to the ingest consumer and not yet acknowledged',
      registers,
      async collect() {
        this.reset();
        const i = await info();
        if (i) this.set(i.ackPending);
      },
    });
  }

  /** Agents, slots, spools and dropped reports per region, from the heartbeats (read at scrape time). */
  trackFleet(all: () => RegionCapacity[]): void {
    const registers = [this.registry];
    const regions = () => (this.exportsFleet() ? all() : []);
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      fill: (set: (labels: Labels, v: number) => void, r: RegionCapacity) => void,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const r of regions()) fill((labels, v) => this.set({ region: r.region, ...labels }, v), r);
        },
      });
    gauge(
      'liveprobe_agents',
      'Agents by region and status (online, offline, draining)',
      ['region', 'status'],
      (set, r) => {
        // draining agents are online too; the three are reported as the fleet page shows them
        set({ status: 'online' }, r.agents.online);
        set({ status: 'offline' }, r.agents.offline);
        set({ status: 'draining' }, r.agents.draining);
      },
    );
    const perKind = (name: string, help: string, read: (r: RegionCapacity) => Record<string, number>) =>
      gauge(name, help, ['region', 'kind'], (set, r) => {
        for (const [kind, v] of Object.entries(read(r))) set({ kind }, v);
      });
    perKind(
      'liveprobe_agent_capacity_slots',
      'Probe slots of online, non-draining agents',
      (r) => r.capacity,
    );
    perKind('liveprobe_agent_running_jobs', 'Jobs running on the agents', (r) => r.running);
    perKind('liveprobe_agent_free_slots', 'Probe slots free for new jobs', (r) => r.free);
    gauge(
      'liveprobe_agent_spooled_reports',
      "Reports waiting in the agents' spools (NATS unreachable from there)",
      ['region'],
      (set, r) => set({}, r.spooled),
    );
    new Counter({
      name: 'liveprobe_agent_dropped_reports_total',
      help: "Reports the region's agents could not store or spool (sum of the agents' own counters; drops when an agent is forgotten)",
      labelNames: ['region'],
      registers,
      collect() {
        this.reset();
        for (const r of regions()) this.inc({ region: r.region }, r.dropped);
      },
    });
  }

  /** Alerts by rule and state, notifications by receiver and result (read at scrape time). */
  trackAlerting(a: {
    alertCounts: () => { rule: string; severity: string; state: string; count: number }[];
    notificationCounts: () => { receiver: string; sent: number; failed: number }[];
  }): void {
    const registers = [this.registry];
    const exportsFleet = () => this.exportsFleet();
    new Gauge({
      name: 'liveprobe_alerts',
      help: 'Active alerts by rule, severity and state (pending, firing)',
      labelNames: ['rule', 'severity', 'state'],
      registers,
      collect() {
        this.reset();
        if (!exportsFleet()) return;
        for (const c of a.alertCounts())
          this.set({ rule: c.rule, severity: c.severity, state: c.state }, c.count);
      },
    });
    const notifications = (name: string, help: string, key: 'sent' | 'failed') =>
      new Counter({
        name,
        help,
        labelNames: ['receiver'],
        registers,
        collect() {
          this.reset();
          for (const c of a.notificationCounts()) this.inc({ receiver: c.receiver }, c[key]);
        },
      });
    notifications('liveprobe_notifications_sent_total', 'Notifications delivered, by receiver', 'sent');
    notifications(
      'liveprobe_notifications_failed_total',
      'Notifications given up on after retries, by receiver',
      'failed',
    );
  }
}

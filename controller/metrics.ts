import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricName } from '../shared/metrics.js';
import type { Report } from '../shared/schemas.js';

const LABELS = ['target', 'region', 'probe'] as const;
const SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 30];

/**
 * Prometheus names follow METRICS.md: liveprobe_<name without percentile and unit suffix>_<base unit>.
 * A report's per-session p50 is one observation of the histogram (e.g. g2g_p50_ms -> liveprobe_g2g_seconds).
 */
const HISTOGRAMS: [MetricName, string, string][] = [
  ['startup_ms', 'liveprobe_startup_seconds', 'loadSource -> first frame presented'],
  ['manifest_ms', 'liveprobe_manifest_seconds', 'loadSource -> master playlist / MPD loaded'],
  ['first_segment_ms', 'liveprobe_first_segment_seconds', 'loadSource -> first media segment loaded'],
  ['segment_ttfb_p50_ms', 'liveprobe_segment_ttfb_seconds', 'segment request -> first byte (per-report p50)'],
  [
    'segment_download_p50_ms',
    'liveprobe_segment_download_seconds',
    'segment request -> last byte (per-report p50)',
  ],
  [
    'segment_availability_delay_p50_ms',
    'liveprobe_segment_availability_delay_seconds',
    'first seen in playlist - (PDT + duration)',
  ],
  ['g2g_p50_ms', 'liveprobe_g2g_seconds', 'glass-to-glass from the in-frame clock (per-report p50)'],
  ['pdt_latency_p50_ms', 'liveprobe_pdt_latency_seconds', 'now - playing PROGRAM-DATE-TIME (per-report p50)'],
  ['dash_latency_p50_ms', 'liveprobe_dash_latency_seconds', 'dash.js live latency (per-report p50)'],
  ['stall_ms', 'liveprobe_stall_seconds', 'stalled time per report'],
];

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly histograms: { metric: MetricName; h: Histogram<(typeof LABELS)[number]> }[];
  private readonly reports: Counter<'target' | 'region' | 'probe' | 'outcome'>;
  private readonly errors: Counter<'target' | 'region' | 'probe' | 'category'>;
  private readonly rebuffer: Gauge<(typeof LABELS)[number]>;

  constructor() {
    this.histograms = HISTOGRAMS.map(([metric, name, help]) => ({
      metric,
      h: new Histogram({
        name,
        help,
        labelNames: LABELS,
        buckets: SECONDS_BUCKETS,
        registers: [this.registry],
      }),
    }));
    this.reports = new Counter({
      name: 'liveprobe_reports_total',
      help: 'reports ingested, by outcome',
      labelNames: [...LABELS, 'outcome'],
      registers: [this.registry],
    });
    this.errors = new Counter({
      name: 'liveprobe_errors_total',
      help: 'errors seen by probes, by category (http, network, player, conformance)',
      labelNames: [...LABELS, 'category'],
      registers: [this.registry],
    });
    this.rebuffer = new Gauge({
      name: 'liveprobe_rebuffer_ratio',
      help: 'rebuffer ratio of the latest report',
      labelNames: LABELS,
      registers: [this.registry],
    });
  }

  /** Exposes the ingest loop's own counters (read at scrape time). */
  trackIngest(stats: { ingested: number; invalid: number; redelivered: number }): void {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge(
      'liveprobe_ingest_reports_total',
      'reports ingested since start (distinct ids)',
      () => stats.ingested,
    );
    gauge(
      'liveprobe_ingest_invalid_total',
      'results-stream messages that failed validation (terminated)',
      () => stats.invalid,
    );
    gauge(
      'liveprobe_ingest_redelivered_total',
      'redelivered reports skipped as already counted',
      () => stats.redelivered,
    );
  }

  observe(r: Report): void {
    const labels = { target: r.target.id, region: r.region, probe: r.probe };
    for (const { metric, h } of this.histograms) {
      const v = r.metrics[metric];
      if (v !== undefined) h.observe(labels, Math.max(0, v) / 1000);
    }
    this.reports.inc({ ...labels, outcome: r.outcome });
    const m = r.metrics;
    for (const [category, n] of [
      ['http', m.errors_http],
      ['network', m.errors_network],
      ['player', m.errors_player],
      ['conformance', m.errors_conformance],
    ] as const) {
      if (n) this.errors.inc({ ...labels, category }, n);
    }
    if (m.rebuffer_ratio !== undefined) this.rebuffer.set(labels, m.rebuffer_ratio);
  }

  /** Drop the label sets of an evicted series so /metrics stays bounded too. */
  forget(series: { target: string; region: string; probe: string }): void {
    for (const { h } of this.histograms) h.remove(series);
    this.rebuffer.remove(series);
  }
}

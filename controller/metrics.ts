import { Counter, Gauge, Registry } from 'prom-client';
import type { Aggregator, SketchedMetric, WindowName } from './aggregate/aggregator.js';

const LABELS = ['target', 'region', 'probe'] as const;
const QUANTILES = [
  ['0.5', 'p50'],
  ['0.95', 'p95'],
  ['0.99', 'p99'],
] as const;

/**
 * Prometheus names follow METRICS.md: liveprobe_<name without percentile and unit suffix>_<base unit>,
 * labels target, region, probe. Values are read from the controller's own windows at scrape time — the
 * 5m DDSketch quantiles as gauges with a `quantile` label, outcome and error counts as counters since the
 * series appeared — so ingest pays nothing per report for Prometheus (prom-client's per-observation label
 * hashing cost more than validating a report).
 */
const QUANTILE_GAUGES: [SketchedMetric, string, string, number][] = [
  ['startup_ms', 'liveprobe_startup_seconds', 'loadSource -> first frame presented', 1000],
  ['manifest_ms', 'liveprobe_manifest_seconds', 'loadSource -> master playlist / MPD loaded', 1000],
  ['first_segment_ms', 'liveprobe_first_segment_seconds', 'loadSource -> first media segment loaded', 1000],
  [
    'segment_ttfb_p50_ms',
    'liveprobe_segment_ttfb_seconds',
    'segment request -> first byte (per-report p50)',
    1000,
  ],
  [
    'segment_download_p50_ms',
    'liveprobe_segment_download_seconds',
    'segment request -> last byte (per-report p50)',
    1000,
  ],
  [
    'segment_availability_delay_p50_ms',
    'liveprobe_segment_availability_delay_seconds',
    'first seen in playlist - (PDT + duration)',
    1000,
  ],
  ['g2g_p50_ms', 'liveprobe_g2g_seconds', 'glass-to-glass from the in-frame clock (per-report p50)', 1000],
  [
    'pdt_latency_p50_ms',
    'liveprobe_pdt_latency_seconds',
    'now - playing PROGRAM-DATE-TIME (per-report p50)',
    1000,
  ],
  ['dash_latency_p50_ms', 'liveprobe_dash_latency_seconds', 'dash.js live latency (per-report p50)', 1000],
  ['stall_ms', 'liveprobe_stall_seconds', 'stalled time per report', 1000],
];

export class ControllerMetrics {
  readonly registry = new Registry();

  constructor(aggregator: Aggregator, window: WindowName = '5m') {
    const registers = [this.registry];
    let snapshot: ReturnType<Aggregator['perSeries']> = [];
    let snapshotAt = 0;
    // One aggregator pass per scrape, shared by every metric's collect().
    const series = () => {
      if (Date.now() - snapshotAt > 500) {
        snapshot = aggregator.perSeries(window);
        snapshotAt = Date.now();
      }
      return snapshot;
    };
    for (const [metric, name, help, divisor] of QUANTILE_GAUGES) {
      new Gauge({
        name,
        help: `${help}; ${window} window quantiles`,
        labelNames: [...LABELS, 'quantile'],
        registers,
        collect() {
          this.reset();
          for (const s of series()) {
            const q = s.summary.metrics[metric];
            if (!q) continue;
            for (const [label, key] of QUANTILES) {
              this.set(
                { target: s.target, region: s.region, probe: s.probe, quantile: label },
                q[key] / divisor,
              );
            }
          }
        },
      });
    }
    new Gauge({
      name: 'liveprobe_rebuffer_ratio',
      help: `stall time / (stall + playing time), duration-weighted over the ${window} window`,
      labelNames: LABELS,
      registers,
      collect() {
        this.reset();
        for (const s of series()) {
          if (s.summary.rebuffer_ratio !== null) {
            this.set({ target: s.target, region: s.region, probe: s.probe }, s.summary.rebuffer_ratio);
          }
        }
      },
    });
    // Counters read from cumulative totals: exposed with the counter type via a gauge-free text name.
    const counter = (
      name: string,
      help: string,
      label: string,
      read: (t: ReturnType<Aggregator['perSeries']>[number]['totals']) => [string, number][],
    ) =>
      new Counter({
        name,
        help: `${help} (since the series appeared; resets when it is evicted)`,
        labelNames: [...LABELS, label],
        registers,
        collect() {
          this.reset();
          for (const s of series()) {
            for (const [value, n] of read(s.totals)) {
              this.inc({ target: s.target, region: s.region, probe: s.probe, [label]: value }, n);
            }
          }
        },
      });
    counter('liveprobe_reports_total', 'reports ingested, by outcome', 'outcome', (t) => [
      ['ok', t.ok],
      ['degraded', t.degraded],
      ['failed', t.failed],
      ['probe-error', t['probe-error']],
    ]);
    counter('liveprobe_errors_total', 'errors seen by probes, by category', 'category', (t) => [
      ['http', t.http],
      ['network', t.network],
      ['player', t.player],
      ['conformance', t.conformance],
    ]);
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
}

#!/usr/bin/env node
/**
 * The Grafana dashboards, as code: `node deploy/grafana/generate.mjs` writes deploy/grafana/dashboards/*.json
 * (then `npx biome format --write deploy/grafana`);
 * `--check` exits 1 when a committed file differs from what this script makes (a test runs it). Edit the
 * panels here, never the JSON. Every query is plain PromQL apart from the dashboard variables $target and
 * $region (regex matchers), so test/dashboards.test.ts can check each one with promtool and a real
 * Prometheus. Metric names: docs/reference/metrics.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'dashboards');
// Grafana's own variable syntax (the dashboard's datasource picker), not a JS template.
const DS = { type: 'prometheus', uid: `\${datasource}` };
const SEL = 'target=~"$target",region=~"$region"';

const datasourceVar = {
  name: 'datasource',
  label: 'Prometheus',
  type: 'datasource',
  query: 'prometheus',
  current: {},
  hide: 0,
};
const labelVar = (name, metric, multi = true) => ({
  name,
  label: name,
  type: 'query',
  datasource: DS,
  query: { query: `label_values(${metric}, ${name})`, refId: `${name}-values` },
  definition: `label_values(${metric}, ${name})`,
  refresh: 2,
  includeAll: multi,
  multi,
  allValue: '.+',
  current: multi ? { text: 'All', value: '$__all' } : {},
  sort: 1,
  hide: 0,
});

let panelId = 0;
/** One panel; `targets` are [expr, legend] pairs. */
function panel(type, title, targets, opts = {}) {
  const { w = 12, h = 8, unit, description, min, max, instant = false, thresholds, mappings } = opts;
  return {
    id: ++panelId,
    type,
    title,
    ...(description ? { description } : {}),
    datasource: DS,
    gridPos: { w, h, x: 0, y: 0 },
    targets: targets.map(([expr, legendFormat], i) => ({
      datasource: DS,
      refId: String.fromCharCode(65 + i),
      expr,
      legendFormat: legendFormat ?? '',
      ...(instant ? { instant: true, range: false, format: type === 'table' ? 'table' : 'time_series' } : {}),
    })),
    fieldConfig: {
      defaults: {
        ...(unit ? { unit } : {}),
        ...(min !== undefined ? { min } : {}),
        ...(max !== undefined ? { max } : {}),
        ...(thresholds ? { thresholds: { mode: 'absolute', steps: thresholds } } : {}),
        ...(mappings ? { mappings } : {}),
      },
      overrides: [],
    },
    options: type === 'timeseries' ? { legend: { displayMode: 'list', placement: 'bottom' } } : {},
  };
}

/** Lays panels out left to right, top to bottom, on Grafana's 24-column grid. */
function layout(panels) {
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const p of panels) {
    if (x + p.gridPos.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    p.gridPos.x = x;
    p.gridPos.y = y;
    x += p.gridPos.w;
    rowH = Math.max(rowH, p.gridPos.h);
  }
  return panels;
}

function dashboard(uid, title, description, vars, panels) {
  panelId = 0;
  return {
    uid,
    title,
    description,
    tags: ['liveprobe'],
    timezone: 'browser',
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-3h', to: 'now' },
    templating: { list: [datasourceVar, ...vars] },
    links: [{ title: 'liveprobe', type: 'dashboards', tags: ['liveprobe'], asDropdown: true }],
    panels: layout(panels()),
  };
}

const q = (percentile, metric, by, sel = SEL) =>
  `histogram_quantile(${percentile}, sum by (${by ? `${by}, ` : ''}le) (rate(${metric}_bucket{${sel}}[5m])))`;
const successRatio = (by, sel = SEL) =>
  `sum by (${by}) (rate(liveprobe_reports_total{${sel},outcome=~"ok|degraded"}[5m])) / sum by (${by}) (rate(liveprobe_reports_total{${sel}}[5m]))`;

const DASHBOARDS = {
  'liveprobe-fleet': () =>
    dashboard(
      'liveprobe-fleet',
      'liveprobe / Fleet overview',
      'Agents, probe slots, spools and report flow per region.',
      [labelVar('region', 'liveprobe_agents')],
      () => [
        panel('stat', 'Agents online', [['sum(liveprobe_agents{status="online",region=~"$region"})']], {
          w: 6,
          h: 4,
        }),
        panel('stat', 'Agents offline', [['sum(liveprobe_agents{status="offline",region=~"$region"})']], {
          w: 6,
          h: 4,
          thresholds: [
            { color: 'green', value: null },
            { color: 'red', value: 1 },
          ],
        }),
        panel(
          'stat',
          'Free browser slots',
          [['sum(liveprobe_agent_free_slots{kind="browser",region=~"$region"})']],
          {
            w: 6,
            h: 4,
          },
        ),
        panel('stat', 'Reports / s', [['sum(rate(liveprobe_reports_total{region=~"$region"}[5m]))']], {
          w: 6,
          h: 4,
          unit: 'reqps',
        }),
        panel('timeseries', 'Agents by region and status', [
          ['sum by (region, status) (liveprobe_agents{region=~"$region"})', '{{region}} {{status}}'],
        ]),
        panel('timeseries', 'Slots: capacity and running jobs', [
          [
            'sum by (region, kind) (liveprobe_agent_capacity_slots{region=~"$region"})',
            '{{region}} {{kind}} capacity',
          ],
          [
            'sum by (region, kind) (liveprobe_agent_running_jobs{region=~"$region"})',
            '{{region}} {{kind}} running',
          ],
        ]),
        panel(
          'timeseries',
          'Reports per second by region and outcome',
          [
            [
              'sum by (region, outcome) (rate(liveprobe_reports_total{region=~"$region"}[5m]))',
              '{{region}} {{outcome}}',
            ],
          ],
          { unit: 'reqps' },
        ),
        panel(
          'timeseries',
          'Spooled and dropped reports',
          [
            ['sum by (region) (liveprobe_agent_spooled_reports{region=~"$region"})', '{{region}} spooled'],
            [
              'sum by (region) (increase(liveprobe_agent_dropped_reports_total{region=~"$region"}[15m]))',
              '{{region}} dropped (15m)',
            ],
          ],
          {
            description: 'Spooled: waiting on agents while NATS is unreachable. Dropped: lost (spool full).',
          },
        ),
      ],
    ),

  'liveprobe-event-board': () =>
    dashboard(
      'liveprobe-event-board',
      'liveprobe / Event board',
      'Every target x region at a glance, for a live event: is it playable, how fast does it start, how late is it.',
      [labelVar('target', 'liveprobe_probe_success'), labelVar('region', 'liveprobe_probe_success')],
      () => [
        panel('table', 'Success ratio, target x region (5m)', [[successRatio('target, region'), '']], {
          w: 24,
          h: 9,
          unit: 'percentunit',
          instant: true,
          min: 0,
          max: 1,
          thresholds: [
            { color: 'red', value: null },
            { color: 'orange', value: 0.9 },
            { color: 'green', value: 0.99 },
          ],
        }),
        panel(
          'state-timeline',
          'Last probe succeeded (probe_success)',
          [[`min by (target, region) (liveprobe_probe_success{${SEL}})`, '{{target}} / {{region}}']],
          {
            w: 24,
            h: 9,
            mappings: [
              {
                type: 'value',
                options: { 0: { text: 'failing', color: 'red' }, 1: { text: 'ok', color: 'green' } },
              },
            ],
          },
        ),
        panel(
          'timeseries',
          'Startup p95 by target and region',
          [[q(0.95, 'liveprobe_startup_seconds', 'target, region'), '{{target}} / {{region}}']],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Glass-to-glass p95 by target and region',
          [[q(0.95, 'liveprobe_g2g_seconds', 'target, region'), '{{target}} / {{region}}']],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Rebuffer ratio (5m)',
          [[`max by (target, region) (liveprobe_rebuffer_ratio{${SEL}})`, '{{target}} / {{region}}']],
          { unit: 'percentunit' },
        ),
        panel('timeseries', 'Probe errors per minute by category', [
          [
            `sum by (target, category) (rate(liveprobe_errors_total{${SEL}}[5m])) * 60`,
            '{{target}} {{category}}',
          ],
        ]),
      ],
    ),

  'liveprobe-target': () =>
    dashboard(
      'liveprobe-target',
      'liveprobe / Target drill-down',
      'One target: every figure, across regions (histograms summed before the quantile) and per region.',
      [labelVar('target', 'liveprobe_reports_total', false), labelVar('region', 'liveprobe_reports_total')],
      () => [
        panel('stat', 'Success ratio (5m, all regions)', [[successRatio('target')]], {
          w: 6,
          h: 4,
          unit: 'percentunit',
        }),
        panel('stat', 'Startup p95 (all regions)', [[q(0.95, 'liveprobe_startup_seconds', 'target')]], {
          w: 6,
          h: 4,
          unit: 's',
        }),
        panel('stat', 'Glass-to-glass p95 (all regions)', [[q(0.95, 'liveprobe_g2g_seconds', 'target')]], {
          w: 6,
          h: 4,
          unit: 's',
        }),
        panel('stat', 'Reports / min', [[`sum(rate(liveprobe_reports_total{${SEL}}[5m])) * 60`]], {
          w: 6,
          h: 4,
        }),
        panel(
          'timeseries',
          'Startup: p50 / p95 across regions, p95 per region',
          [
            [q(0.5, 'liveprobe_startup_seconds', ''), 'p50 all'],
            [q(0.95, 'liveprobe_startup_seconds', ''), 'p95 all'],
            [q(0.95, 'liveprobe_startup_seconds', 'region'), 'p95 {{region}}'],
          ],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Live latency p95 per region (g2g, PDT)',
          [
            [q(0.95, 'liveprobe_g2g_seconds', 'region'), 'g2g {{region}}'],
            [q(0.95, 'liveprobe_pdt_latency_seconds', 'region'), 'pdt {{region}}'],
          ],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Segments: TTFB and download p95 per region',
          [
            [q(0.95, 'liveprobe_segment_ttfb_seconds', 'region'), 'ttfb {{region}}'],
            [q(0.95, 'liveprobe_segment_download_seconds', 'region'), 'download {{region}}'],
          ],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Manifest and first segment p95 per region',
          [
            [q(0.95, 'liveprobe_manifest_seconds', 'region'), 'manifest {{region}}'],
            [q(0.95, 'liveprobe_first_segment_seconds', 'region'), 'first segment {{region}}'],
          ],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'Stalls: share of reports with a stall, per region',
          [
            [
              `1 - sum by (region) (rate(liveprobe_stall_seconds_bucket{${SEL},le="0"}[5m])) / sum by (region) (rate(liveprobe_stall_seconds_count{${SEL}}[5m]))`,
              '{{region}}',
            ],
          ],
          { unit: 'percentunit' },
        ),
        panel('timeseries', 'Outcomes per minute', [
          [`sum by (outcome) (rate(liveprobe_reports_total{${SEL}}[5m])) * 60`, '{{outcome}}'],
        ]),
        panel('timeseries', 'Conformance findings per minute by code', [
          [`sum by (code) (rate(liveprobe_findings_total{${SEL}}[5m])) * 60`, '{{code}}'],
        ]),
        panel(
          'timeseries',
          'Segment throughput p50 per region',
          [[q(0.5, 'liveprobe_segment_throughput_bytes_per_second', 'region'), '{{region}}']],
          { unit: 'Bps' },
        ),
      ],
    ),

  'liveprobe-controller': () =>
    dashboard(
      'liveprobe-controller',
      'liveprobe / Controller health',
      'The controller itself: scrape health, ingest and its lag, API latency, alerting and notifications, process.',
      [],
      () => [
        panel('stat', 'Controllers up', [['sum(up{job="liveprobe"})']], { w: 6, h: 4 }),
        panel(
          'stat',
          'Ingest lag (pending messages)',
          [['max(liveprobe_ingest_consumer_pending_messages)']],
          {
            w: 6,
            h: 4,
            thresholds: [
              { color: 'green', value: null },
              { color: 'orange', value: 100 },
              { color: 'red', value: 1000 },
            ],
          },
        ),
        panel('stat', 'Firing alerts', [['sum(liveprobe_alerts{state="firing"}) or vector(0)']], {
          w: 6,
          h: 4,
        }),
        panel('stat', 'Version', [['count by (version) (liveprobe_build_info)', '{{version}}']], {
          w: 6,
          h: 4,
        }),
        panel(
          'timeseries',
          'Ingest: reports, invalid, redelivered per second',
          [
            ['sum(rate(liveprobe_ingest_reports_total[5m]))', 'ingested'],
            ['sum(rate(liveprobe_ingest_invalid_total[5m]))', 'invalid'],
            ['sum(rate(liveprobe_ingest_redelivered_total[5m]))', 'redelivered'],
          ],
          { unit: 'reqps' },
        ),
        panel('timeseries', 'JetStream consumer: pending and ack-pending', [
          ['max(liveprobe_ingest_consumer_pending_messages)', 'pending (lag)'],
          ['max(liveprobe_ingest_consumer_ack_pending_messages)', 'ack pending'],
        ]),
        panel(
          'timeseries',
          'API latency p99 by route',
          [
            [
              'histogram_quantile(0.99, sum by (route, le) (rate(liveprobe_http_request_duration_seconds_bucket[5m])))',
              '{{route}}',
            ],
          ],
          { unit: 's' },
        ),
        panel(
          'timeseries',
          'API requests per second by status',
          [
            [
              'sum by (status_code) (rate(liveprobe_http_request_duration_seconds_count[5m]))',
              '{{status_code}}',
            ],
          ],
          { unit: 'reqps' },
        ),
        panel('timeseries', 'Alerts by state', [
          ['sum by (state) (liveprobe_alerts) or vector(0)', '{{state}}'],
        ]),
        panel('timeseries', 'Notifications per minute: sent and failed', [
          ['sum(rate(liveprobe_notifications_sent_total[5m])) * 60 or vector(0)', 'sent'],
          ['sum(rate(liveprobe_notifications_failed_total[5m])) * 60 or vector(0)', 'failed'],
        ]),
        panel('timeseries', 'CPU and event-loop lag', [
          ['rate(process_cpu_seconds_total{job="liveprobe"}[5m])', 'CPU cores {{instance}}'],
          ['nodejs_eventloop_lag_p99_seconds{job="liveprobe"}', 'event-loop lag p99 {{instance}}'],
        ]),
        panel(
          'timeseries',
          'Memory',
          [
            ['process_resident_memory_bytes{job="liveprobe"}', 'RSS {{instance}}'],
            ['nodejs_heap_size_used_bytes{job="liveprobe"}', 'heap used {{instance}}'],
          ],
          { unit: 'bytes' },
        ),
        panel('timeseries', 'Exported target x region x probe series', [
          ['liveprobe_metrics_series', '{{instance}}'],
          [
            'sum(increase(liveprobe_metrics_series_dropped_reports_total[15m]))',
            'reports over the series limit (15m)',
          ],
        ]),
      ],
    ),
};

const check = process.argv.includes('--check');
let stale = 0;
for (const [name, make] of Object.entries(DASHBOARDS)) {
  const file = join(OUT, `${name}.json`);
  const text = `${JSON.stringify(make(), null, 2)}\n`;
  if (check) {
    // Compared as data: biome formats the committed JSON its own way.
    let old = '';
    try {
      old = JSON.stringify(JSON.parse(readFileSync(file, 'utf8')));
    } catch {}
    if (old !== JSON.stringify(JSON.parse(text))) {
      stale++;
      console.error(`${file} is not what generate.mjs makes: run node deploy/grafana/generate.mjs`);
    }
  } else {
    writeFileSync(file, text);
    console.log(`wrote ${file}`);
  }
}
process.exit(stale ? 1 : 0);

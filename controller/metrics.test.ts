import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Report } from '../shared/schemas.js';
import { Aggregator } from './aggregate/aggregator.js';
import { ControllerMetrics, HISTOGRAMS } from './metrics.js';

function report(i: number, over: Partial<Report> = {}): Report {
  const end = Date.now() - 1000;
  return {
    id: `job-${i}:0`,
    jobId: `job-${i}`,
    seq: 0,
    target: { id: i % 2 ? 'ch1' : 'ch2', url: 'http://127.0.0.1:1/x.m3u8', protocol: 'hls' },
    region: i % 3 ? 'eu' : 'us',
    agentId: 'a1',
    probe: 'browser',
    mode: 'check',
    startedAt: new Date(end - 15_000).toISOString(),
    endedAt: new Date(end).toISOString(),
    outcome: i % 10 === 0 ? 'failed' : 'ok',
    reasons: [],
    metrics: {
      startup_ms: 500 + i * 10,
      g2g_p50_ms: 4000 + i,
      stall_ms: 0,
      errors_http: i % 10 === 0 ? 2 : 0,
    },
    segments: [],
    errors: [],
    findings:
      i === 3
        ? [{ code: 'pdt-drift', severity: 'warning', variant: 'v', at: 0, count: 3, evidence: '' }]
        : [],
    version: 't',
    ...over,
  };
}

/** promtool's own lint; an empty output is "no problem". */
function promtoolCheck(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim();
}

const line = (text: string, prefix: string) =>
  text.split('\n').find((l) => l.startsWith(prefix)) ?? `(no line starting ${prefix})`;

function fullRegistry(opts: ConstructorParameters<typeof ControllerMetrics>[1] = {}) {
  const aggregator = new Aggregator();
  const metrics = new ControllerMetrics(aggregator, opts);
  metrics.trackIngest({ ingested: 30, invalid: 1, redelivered: 2 }, async () => ({
    pending: 7,
    ackPending: 1,
  }));
  metrics.trackFleet(() => [
    {
      region: 'eu',
      agents: { online: 2, offline: 1, draining: 0 },
      capacity: { browser: 4, stream: 200 },
      running: { browser: 1, stream: 3 },
      free: { browser: 3, stream: 197 },
      dropped: 5,
      spooled: 2,
    },
  ]);
  metrics.trackAlerting({
    alertCounts: () => [{ rule: 'startup-slow', severity: 'warning', state: 'firing', count: 2 }],
    notificationCounts: () => [{ receiver: 'oncall', sent: 3, failed: 1 }],
  });
  return { aggregator, metrics };
}

describe('ControllerMetrics', () => {
  it('passes promtool check metrics with every family populated', async () => {
    const { aggregator, metrics } = fullRegistry();
    for (let i = 0; i < 30; i++) {
      const r = report(i);
      aggregator.add(r);
      metrics.observe(r);
    }
    metrics.observeHttp('GET', '/v1/summary', 200, 0.004);
    const text = await metrics.registry.metrics();
    expect(promtoolCheck(text)).toBe('');
    for (const h of HISTOGRAMS.filter((h) => ['startup_ms', 'g2g_p50_ms', 'stall_ms'].includes(h.metric))) {
      expect(text).toContain(`# TYPE ${h.name} histogram`);
    }
    expect(text).toContain('# TYPE liveprobe_reports_total counter');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    expect(text).toMatch(/liveprobe_build_info\{version="[^"]+",nodejs_version="[^"]+"\} 1/);
    expect(line(text, 'liveprobe_ingest_consumer_pending_messages')).toBe(
      'liveprobe_ingest_consumer_pending_messages 7',
    );
    expect(line(text, 'liveprobe_agents{region="eu",status="offline"}')).toMatch(/ 1$/);
    expect(line(text, 'liveprobe_agent_dropped_reports_total{region="eu"}')).toMatch(/ 5$/);
    expect(line(text, 'liveprobe_notifications_failed_total{receiver="oncall"}')).toMatch(/ 1$/);
    expect(line(text, 'liveprobe_alerts{rule="startup-slow"')).toMatch(/state="firing"\} 2$/);
    expect(
      line(text, 'liveprobe_findings_total{target="ch1",region="us",probe="browser",code="pdt-drift"}'),
    ).toMatch(/ 3$/);
    // ch2/us: i = 0, 6, 12, 18, 24 -> i = 0 failed (2 http errors each time i % 10 === 0)
    expect(
      line(text, 'liveprobe_reports_total{target="ch2",region="us",probe="browser",outcome="failed"}'),
    ).toMatch(/ 1$/);
    expect(
      line(text, 'liveprobe_errors_total{target="ch2",region="us",probe="browser",category="http"}'),
    ).toMatch(/ 2$/);
    // every report of ch1 started within 1 s (510..790 ms); the stall histogram's le="0" counts stall-free ones
    const eu = 'target="ch1",region="eu",probe="browser"';
    const count = Number(line(text, `liveprobe_startup_seconds_count{${eu}}`).split(' ')[1]);
    expect(count).toBeGreaterThan(0);
    expect(line(text, `liveprobe_startup_seconds_bucket{le="1",${eu}}`)).toMatch(new RegExp(` ${count}$`));
    expect(line(text, `liveprobe_startup_seconds_bucket{le="0.5",${eu}}`)).toMatch(/ 0$/);
    expect(line(text, `liveprobe_stall_seconds_bucket{le="0",${eu}}`)).toMatch(new RegExp(` ${count}$`));
    expect(line(text, 'liveprobe_probe_success{target="ch2",region="us",probe="browser"}')).toMatch(/ 1$/);
    expect(
      line(text, 'liveprobe_http_request_duration_seconds_count{method="GET",route="/v1/summary"'),
    ).toMatch(/ 1$/);
  });

  it('exports chosen target labels, bounds the series, and evicts idle ones', async () => {
    const { metrics } = fullRegistry({
      targetLabels: ['cdn'],
      labelsOf: (id) => (id === 'ch1' ? { cdn: 'akamai', team: 'x' } : undefined),
      maxSeries: 3,
    });
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) metrics.observe(report(i), t0);
    // 4 series (ch1|ch2 x eu|us) against a bound of 3: the fourth one's reports are counted as dropped
    let text = await metrics.registry.metrics();
    expect(promtoolCheck(text)).toBe('');
    expect(line(text, 'liveprobe_metrics_series ')).toBe('liveprobe_metrics_series 3');
    expect(
      Number(line(text, 'liveprobe_metrics_series_dropped_reports_total').split(' ')[1]),
    ).toBeGreaterThan(0);
    expect(text).toMatch(
      /liveprobe_probe_success\{target="ch1",region="eu",probe="browser",cdn="akamai"\} 1/,
    );
    expect(text).toMatch(
      /liveprobe_probe_success\{target="ch2",region="(eu|us)",probe="browser",cdn=""\} \d/,
    );
    expect(text).not.toContain('team=');
    metrics.observe(report(1, { id: 'late', region: 'eu' }), t0 + 3 * 3_600_000 - 1000);
    metrics.evict(t0 + 3 * 3_600_000);
    text = await metrics.registry.metrics();
    expect(line(text, 'liveprobe_metrics_series ')).toBe('liveprobe_metrics_series 1');
    expect(text).toContain('target="ch1",region="eu"');
    expect(text).not.toContain('target="ch2"');
  });

  it('summarizes only the exported series for the rebuffer gauge (a scrape at 100k series)', async () => {
    const aggregator = new Aggregator();
    let summarized = 0;
    const metrics = new ControllerMetrics(
      {
        perSeries: (...a) => {
          const out = aggregator.perSeries(...a);
          summarized = out.length;
          return out;
        },
      },
      { maxSeries: 3 },
    );
    for (let i = 0; i < 30; i++) {
      const r = report(i, { metrics: { startup_ms: 500, rebuffer_ratio: 0.01 } });
      aggregator.add(r);
      metrics.observe(r);
    }
    // 4 series (ch1|ch2 x eu|us) in the windows, 3 exported: the gauge and the work are the 3.
    const text = await metrics.registry.metrics();
    const exported = (family: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${family}{`))
        .map((l) => l.slice(l.indexOf('{'), l.indexOf('}') + 1))
        .sort();
    expect(aggregator.size).toBe(4);
    expect(summarized).toBe(3);
    expect(exported('liveprobe_rebuffer_ratio')).toHaveLength(3);
    expect(exported('liveprobe_rebuffer_ratio')).toEqual(exported('liveprobe_probe_success'));
  });

  it("skips a watch's summary report (its interval reports were counted)", async () => {
    const { metrics } = fullRegistry();
    metrics.observe(report(1, { mode: 'watch', seq: 0 }));
    metrics.observe(report(1, { mode: 'watch', seq: 15_000, id: 'w:15000' }));
    const text = await metrics.registry.metrics();
    expect(line(text, 'liveprobe_startup_seconds_count{target="ch1",region="eu",probe="browser"}')).toMatch(
      / 1$/,
    );
  });
});

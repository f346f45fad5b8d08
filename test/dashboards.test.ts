import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../agent/index.js';
import { type Controller, startController } from '../controller/index.js';
import type { ProbeJob, Prober } from '../probes/types.js';
import { loadConfig } from '../shared/config.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import type { ProbeKind, ProbeResult } from '../shared/schemas.js';
import { waitFor } from './helpers/fleet.js';
import { freePort, startNats, tempDir } from './helpers/procs.js';
import { type PrometheusChild, startPrometheus } from './helpers/prometheus.js';

const GRAFANA = join(import.meta.dirname, '..', 'deploy', 'grafana');
const DASHBOARD_DIR = join(GRAFANA, 'dashboards');

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** Every panel query of every dashboard, with the dashboard variables set to "all". */
function panelQueries(): { dashboard: string; panel: string; expr: string }[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .flatMap((file) => {
      const d = JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as { panels: Panel[] };
      return d.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({
          dashboard: file,
          panel: p.title,
          expr: t.expr.replaceAll('$target', '.+').replaceAll('$region', '.+'),
        })),
      );
    });
}

/**
 * A prober whose figures depend on the region (eu starts in 0.4 s, us in 1.3 s) and cover every histogram,
 * error category and a finding, so every dashboard panel has something to show. The fleet, NATS, ingest,
 * /metrics and Prometheus are real; only the measurement is made up.
 */
class FigureProber implements Prober {
  constructor(
    readonly kind: ProbeKind,
    private readonly region: 'eu' | 'us',
  ) {}
  async run(job: ProbeJob): Promise<ProbeResult> {
    const slow = this.region === 'us' ? 1 : 0;
    // a 10 s report period: the rebuffer ratio is weighted by it
    return {
      target: job.target,
      probe: this.kind,
      mode: job.mode,
      startedAt: new Date(Date.now() - 10_000).toISOString(),
      endedAt: new Date().toISOString(),
      outcome: slow ? 'degraded' : 'ok',
      reasons: [],
      metrics: {
        startup_ms: slow ? 1300 : 400,
        manifest_ms: 40 + slow * 200,
        first_segment_ms: 300 + slow * 500,
        segment_ttfb_p50_ms: 30 + slow * 100,
        segment_download_p50_ms: 200 + slow * 300,
        segment_throughput_p50_kbps: 4000,
        segment_availability_delay_p50_ms: 800,
        g2g_p50_ms: 4000 + slow * 3000,
        pdt_latency_p50_ms: 5000 + slow * 3000,
        stall_ms: slow * 1200,
        stall_count: slow,
        rebuffer_ratio: slow * 0.05,
        errors_http: slow,
        errors_network: 0,
        segments_total: 5,
      },
      segments: [],
      errors: [],
      findings:
        this.kind === 'stream'
          ? [
              {
                code: 'pdt-drift',
                severity: 'warning',
                variant: 'v0',
                at: Date.now(),
                count: 1,
                evidence: 'x',
              },
            ]
          : [],
    };
  }
  async close() {}
}

describe('dashboards and rules: every panel query parses and returns data from a real Prometheus', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let prometheus: PrometheusChild;
  const agents: Agent[] = [];
  const spool = tempDir('dash-spool');
  const logger = createLogger('test', 'warn');
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${controller.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> };
  };

  beforeAll(async () => {
    nats = await startNats();
    const base = {
      'nats.url': nats.url,
      'egress.allow': LOOPBACK_RULES,
      'controller.port': await freePort(),
      'controller.rulesFile': 'none',
      'agent.heartbeatS': 1,
    };
    controller = await startController({ config: loadConfig({ env: {}, overrides: base }), logger });
    for (const region of ['eu', 'us'] as const) {
      const config = loadConfig({
        env: {},
        overrides: {
          ...base,
          'agent.region': region,
          'agent.id': `dash-${region}`,
          'agent.spoolDir': spool.path,
        },
      });
      agents.push(
        await startAgent({
          config,
          logger,
          probers: {
            browser: new FigureProber('browser', region),
            stream: new FigureProber('stream', region),
          },
        }),
      );
    }
    prometheus = await startPrometheus([controller.url.replace('http://', '')]);
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    for (const a of agents) await a.stop();
    await controller?.stop();
    await nats?.stop();
    spool.remove();
  });

  it('the committed dashboards are what deploy/grafana/generate.mjs makes', () => {
    const r = spawnSync(process.execPath, [join(GRAFANA, 'generate.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const names = readdirSync(DASHBOARD_DIR);
    for (const d of ['fleet', 'event-board', 'target', 'controller'])
      expect(names).toContain(`liveprobe-${d}.json`);
  });

  it('every panel query parses (promtool check rules, the queries wrapped as recording rules)', () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(30);
    const dir = tempDir('dash-rules');
    const file = join(dir.path, 'panels.yml');
    writeFileSync(
      file,
      JSON.stringify({
        groups: [
          {
            name: 'panels',
            rules: queries.map((q, i) => ({ record: `dashboard:panel_${i}`, expr: q.expr })),
          },
        ],
      }),
    );
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    dir.remove();
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('the shipped Prometheus rules pass promtool check and their unit tests', () => {
    const prom = join(import.meta.dirname, '..', 'deploy', 'prometheus');
    const check = spawnSync('promtool', ['check', 'rules', 'liveprobe-rules.yml'], {
      cwd: prom,
      encoding: 'utf8',
    });
    expect(check.status, check.stderr).toBe(0);
    const unit = spawnSync('promtool', ['test', 'rules', 'liveprobe-rules.test.yml'], {
      cwd: prom,
      encoding: 'utf8',
    });
    expect(unit.status, `${unit.stdout}${unit.stderr}`).toBe(0);
  });

  it('with real reports scraped, every panel query returns data and histograms aggregate across regions', async () => {
    await waitFor('both agents online', async () => {
      const { body } = await api('GET', '/v1/agents');
      return (body as unknown as { status: string }[]).filter((a) => a.status === 'online').length === 2;
    });
    for (const id of ['d1', 'd2']) {
      const put = await api('POST', '/v1/targets', {
        id,
        url: `http://127.0.0.1:1/${id}.m3u8`,
        protocol: 'hls',
      });
      expect(put.status).toBe(201);
    }
    await waitFor(
      'the first scrape',
      async () => (await prometheus.query('up{job="liveprobe"} == 1')).length === 1,
    );
    const ingested = async () =>
      Number((await prometheus.query('liveprobe_ingest_reports_total'))[0]?.value[1] ?? 0);
    // Two rounds, each seen by Prometheus before the next, so every counter has an increase to rate().
    for (let round = 1; round <= 2; round++) {
      for (const probe of ['browser', 'stream']) {
        const sweep = await api('POST', '/v1/sweeps', {
          targets: ['d1', 'd2'],
          regions: ['eu', 'us'],
          probe,
          durationS: 1,
        });
        expect(sweep.status).toBe(202);
        const id = sweep.body.id as string;
        await waitFor(
          `sweep ${id} done`,
          async () => (await api('GET', `/v1/sweeps/${id}`)).body.state === 'done',
          60_000,
        );
      }
      await waitFor(`round ${round} scraped`, async () => (await ingested()) >= round * 8, 30_000, 250);
    }

    // the live controller's own /metrics, fed by real reports, has no promtool problem
    const text = await (await fetch(`${controller.url}/metrics`)).text();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);

    const empty: string[] = [];
    for (const q of panelQueries()) {
      const result = await prometheus.query(q.expr);
      if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty).toEqual([]);

    // histograms aggregate across regions: sum the buckets, then take the quantile
    const value = async (expr: string) => {
      const r = await prometheus.query(expr);
      expect(r, expr).toHaveLength(1);
      return Number(r[0]?.value[1]);
    };
    const sel = 'target="d1",probe="browser"';
    const eu = await value(
      `histogram_quantile(0.5, sum by (le) (rate(liveprobe_startup_seconds_bucket{${sel},region="eu"}[5m])))`,
    );
    const us = await value(
      `histogram_quantile(0.5, sum by (le) (rate(liveprobe_startup_seconds_bucket{${sel},region="us"}[5m])))`,
    );
    const all = await value(
      `histogram_quantile(0.95, sum by (le) (rate(liveprobe_startup_seconds_bucket{${sel}}[5m])))`,
    );
    const median = await value(
      `histogram_quantile(0.5, sum by (le) (rate(liveprobe_startup_seconds_bucket{${sel}}[5m])))`,
    );
    // eu observed 0.4 s (bucket 0.25-0.5), us 1.3 s (bucket 1-1.5)
    expect(eu).toBeGreaterThan(0.25);
    expect(eu).toBeLessThanOrEqual(0.5);
    expect(us).toBeGreaterThan(1);
    expect(us).toBeLessThanOrEqual(1.5);
    // half the reports come from each region: the cross-region p95 is us's, the median sits between the two
    expect(all).toBeGreaterThan(1);
    expect(all).toBeLessThanOrEqual(1.5);
    expect(median).toBeGreaterThanOrEqual(eu);
    expect(median).toBeLessThanOrEqual(us);
    const count = await value(`sum(liveprobe_startup_seconds_count{${sel}})`);
    const perRegion = await prometheus.query(`liveprobe_startup_seconds_count{${sel}}`);
    expect(perRegion.map((r) => r.metric.region).sort()).toEqual(['eu', 'us']);
    expect(count).toBe(perRegion.reduce((n, r) => n + Number(r.value[1]), 0));
  }, 240_000);
});

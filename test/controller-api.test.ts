import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../agent/publisher.js';
import { type Controller, startController } from '../controller/index.js';
import { type Config, loadConfig } from '../shared/config.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { freePort, startNats } from './helpers/procs.js';

const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  admin: 'admin-token-0123456789abc',
};

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
    metrics: { startup_ms: 500 + i * 10, g2g_p50_ms: 4000 + i, errors_http: i % 10 === 0 ? 1 : 0 },
    segments: [],
    errors: [],
    findings: [],
    version: 't',
    ...over,
  };
}

describe('controller API: auth, summary, events, metrics, restart', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let config: Config;
  const logger = createLogger('test', 'warn');
  const get = (path: string, token?: string) =>
    fetch(`${controller.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    nats = await startNats();
    config = loadConfig({
      env: {
        LIVEPROBE_TOKENS: `dash:viewer:${TOKENS.viewer},oncall:operator:${TOKENS.operator},ops:admin:${TOKENS.admin}`,
      },
      overrides: {
        'nats.url': nats.url,
        'controller.port': await freePort(),
        'egress.allow': LOOPBACK_RULES,
      },
    });
    controller = await startController({ config, logger });
    nc = await connect({ servers: nats.url });
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    const ingested = new Promise<void>((resolve) => {
      let n = 0;
      controller.events.on('report', () => ++n === 30 && resolve());
    });
    for (let i = 0; i < 30; i++) await publisher.publish(report(i));
    await ingested;
  });

  afterAll(async () => {
    await nc?.close();
    await controller?.stop();
    await nats?.stop();
  });

  it('needs a token, and the right role for writes', async () => {
    expect((await get('/v1/targets')).status).toBe(401);
    expect((await get('/v1/targets', 'wrong-token-0123456789')).status).toBe(401);
    expect((await get('/v1/targets', TOKENS.viewer)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    const create = (token: string) =>
      fetch(`${controller.url}/v1/targets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'ch9', url: 'http://127.0.0.1:1/9.m3u8', protocol: 'hls' }),
      });
    expect((await create(TOKENS.viewer)).status).toBe(403);
    expect((await create(TOKENS.operator)).status).toBe(403);
    expect((await create(TOKENS.admin)).status).toBe(201);
  });

  it('refuses to expose the API beyond loopback without tokens', async () => {
    const open = loadConfig({ env: {}, overrides: { 'nats.url': nats.url, 'controller.host': '0.0.0.0' } });
    await expect(startController({ config: open, logger })).rejects.toThrow(/without authentication/);
  });

  it('summarises per region with quantiles and ratios', async () => {
    const res = await get('/v1/summary?window=5m&groupBy=region', TOKENS.viewer);
    expect(res.status).toBe(200);
    const body = await res.json();
    const eu = body.groups.find((g: { key: string }) => g.key === 'eu');
    const us = body.groups.find((g: { key: string }) => g.key === 'us');
    expect(eu.count + us.count).toBe(30);
    expect(us.count).toBe(10);
    // failed: i = 0 (us), 10 and 20 (eu)
    expect(us.outcomes.failed).toBe(1);
    expect(eu.outcomes.failed).toBe(2);
    expect(us.success_ratio).toBeCloseTo(0.9);
    expect(eu.success_ratio).toBeCloseTo(0.9);
    expect(us.errors.http).toBe(1);
    expect(us.metrics.startup_ms.count).toBe(10);
    expect(us.metrics.startup_ms.p50).toBeGreaterThan(500);
    // The body is sent pre-serialized (routes/summary.ts): still JSON with the head fields, and a
    // repeated request within the cache gets the same groups.
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toMatchObject({ window: '5m', groupBy: 'region', at: expect.any(String) });
    const again = await (await get('/v1/summary?window=5m&groupBy=region', TOKENS.viewer)).json();
    expect(again.groups).toEqual(body.groups);
    const bad = await get('/v1/summary?window=7m&groupBy=planet', TOKENS.viewer);
    expect(bad.status).toBe(400);
    const issues = (await bad.json()).issues.map((i: { path: string }) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['querystring.window', 'querystring.groupBy']));
  });

  it('streams reports as server-sent events', async () => {
    const abort = new AbortController();
    const res = await fetch(`${controller.url}/v1/events?types=report&target=ch1`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    // Ingest leaves segment rows undecoded (shared/report-core.ts); the live feed still carries them whole.
    const rows = [
      {
        at: 1,
        rendition: '720p',
        sn: 9,
        url: 'https://cdn/ch1/9.ts',
        bytes: 9000,
        ttfb_ms: 12,
        download_ms: 30,
      },
      { at: 2, url: 'https://cdn/ch1/10"].ts', bytes: 9100, ttfb_ms: 13, download_ms: 31, reused: true },
    ];
    // Rows the schema refuses (sent past the publisher's check): the report is ingested by its core and
    // left out of the feed, which carries only whole, valid reports; the next one arrives after it.
    const bad = { ...report(103, { id: 'live-0:0', jobId: 'live-0' }), segments: [{ at: 'soon', url: 5 }] };
    await jetstream(nc).publish(
      names().results(bad.region, bad.agentId, bad.target.id),
      JSON.stringify(bad),
      {
        msgID: bad.id,
      },
    );
    await publisher.publish(report(101, { id: 'live-1:0', jobId: 'live-1', segments: rows }));
    let text = '';
    while (!text.includes('live-1:0')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    const data = text.match(/event: report\ndata: (\{.*"id":"live-1:0".*\})\n/)?.[1];
    expect(JSON.parse(data ?? '{}').segments).toEqual(rows);
    expect(text).not.toContain('live-0:0');
  });

  it('exposes Prometheus metrics with the METRICS.md names', async () => {
    const text = await (await get('/metrics', TOKENS.viewer)).text();
    expect(text).toContain('# TYPE liveprobe_startup_seconds histogram');
    // 15 reports of ch1 (odd i), startup 510..790 ms: all of them at or under 1 s
    expect(text).toMatch(
      /liveprobe_startup_seconds_bucket\{le="1",target="ch1",region="(eu|us)",probe="browser"\} \d+/,
    );
    expect(text).toMatch(/liveprobe_g2g_seconds_count\{target="ch2",region="us",probe="browser"\} \d+/);
    expect(text).toContain('# TYPE liveprobe_reports_total counter');
    expect(text).toMatch(
      /liveprobe_reports_total\{target="ch2",region="us",probe="browser",outcome="failed"\} \d+/,
    );
    expect(text).toMatch(/liveprobe_probe_success\{target="ch1",region="eu",probe="browser"\} 1/);
  });

  it('keeps targets, schedules and the summary figures across a restart (windows replayed from JetStream)', async () => {
    const sched = await fetch(`${controller.url}/v1/schedules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'nightly',
        cron: '0 3 * * *',
        tz: 'America/New_York',
        sweep: { targets: ['ch9'], regions: ['eu'], durationS: 20 },
      }),
    });
    expect(sched.status).toBe(201);
    const before = await (await get('/v1/summary?window=1h&groupBy=target', TOKENS.viewer)).json();
    await controller.stop();
    controller = await startController({ config, logger });
    const after = await (await get('/v1/summary?window=1h&groupBy=target', TOKENS.viewer)).json();
    expect(after.groups).toEqual(before.groups);
    const targets = await (await get('/v1/targets', TOKENS.viewer)).json();
    expect(targets.map((t: { id: string }) => t.id)).toContain('ch9');
    const schedules = await (await get('/v1/schedules', TOKENS.viewer)).json();
    expect(schedules).toEqual([expect.objectContaining({ id: 'nightly', tz: 'America/New_York' })]);
    expect(Date.parse(schedules[0].nextRun)).toBeGreaterThan(Date.now());
  });
});

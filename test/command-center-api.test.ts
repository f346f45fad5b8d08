import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../agent/publisher.js';
import { type Controller, startController } from '../controller/index.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { freePort, startNats } from './helpers/procs.js';

// The command center's server side: the page's static serving, /v1/board, /v1/series and browser sessions
// (cookie auth with its Origin check), against a real controller and nats-server.
const TOKENS = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789' };

function report(i: number, region: string, outcome: Report['outcome'], ageMs: number): Report {
  const end = Date.now() - ageMs;
  return {
    id: `cc-${i}:0`,
    jobId: `cc-${i}`,
    seq: 0,
    target: { id: 'ch1', url: 'http://127.0.0.1:1/x.m3u8', protocol: 'hls' },
    region,
    agentId: `agent-${region}`,
    probe: 'browser',
    mode: 'check',
    startedAt: new Date(end - 10_000).toISOString(),
    endedAt: new Date(end).toISOString(),
    outcome,
    reasons: outcome === 'failed' ? ['manifest http 404'] : [],
    metrics: { startup_ms: 1000 + i, g2g_p50_ms: 4000 },
    segments: [],
    errors: [],
    findings: [],
    version: 't',
  };
}

describe('command center API: page, board, series, sessions', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  const logger = createLogger('test', 'warn');
  const url = (p: string) => `${controller.url}${p}`;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    nats = await startNats();
    const config = loadConfig({
      env: { LIVEPROBE_TOKENS: `wall:viewer:${TOKENS.viewer},oncall:operator:${TOKENS.operator}` },
      overrides: { 'nats.url': nats.url, 'controller.port': await freePort() },
    });
    controller = await startController({ config, logger });
    nc = await connect({ servers: nats.url });
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    const all = [
      // eu: ok 20 min ago and now; us: failing now
      report(1, 'eu', 'ok', 20 * 60_000),
      report(2, 'eu', 'ok', 2_000),
      report(3, 'us', 'failed', 1_000),
    ];
    const ingested = new Promise<void>((resolve) => {
      let n = 0;
      controller.events.on('report', () => ++n === all.length && resolve());
    });
    for (const r of all) await publisher.publish(r);
    await ingested;
  });

  afterAll(async () => {
    await nc?.close();
    await controller?.stop();
    await nats?.stop();
  });

  it('serves the page and its assets without a token, at every view path', async () => {
    for (const p of ['/', '/alerts', '/sweeps', '/fleet', '/target/ch1']) {
      const res = await fetch(url(p));
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toContain('/ui/app.js');
    }
    const js = await fetch(url('/ui/app.js'));
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    // the API behind it is still protected
    expect((await fetch(url('/v1/board'))).status).toBe(401);
  });

  it('/v1/board: one cell per target x region with window figures and the last reports', async () => {
    const res = await fetch(url('/v1/board'), { headers: bearer(TOKENS.viewer) });
    expect(res.status).toBe(200);
    const b = (await res.json()) as {
      regions: string[];
      cells: {
        target: string;
        region: string;
        w1m: { outcomes: { failed: number } } | null;
        latest: { outcome: string; reasons: string[] }[];
      }[];
    };
    expect(b.regions).toEqual(['eu', 'us']);
    const us = b.cells.find((c) => c.region === 'us');
    expect(us?.target).toBe('ch1');
    expect(us?.w1m?.outcomes.failed).toBe(1);
    expect(us?.latest[0]).toMatchObject({ outcome: 'failed', reasons: ['manifest http 404'] });
  });

  it('/v1/series: one line per region over the hour, gaps as null, documented in OpenAPI', async () => {
    const res = await fetch(url('/v1/series?target=ch1&metric=startup_ms&agg=p50&window=1h&step=1m'), {
      headers: bearer(TOKENS.viewer),
    });
    expect(res.status).toBe(200);
    const s = (await res.json()) as {
      times: number[];
      step_ms: number;
      series: { region: string; values: (number | null)[] }[];
    };
    expect(s.step_ms).toBe(60_000);
    expect(s.times.length).toBeGreaterThanOrEqual(60);
    expect(s.series.map((x) => x.region)).toEqual(['eu', 'us']);
    const eu = s.series[0]?.values ?? [];
    expect(eu.filter((v) => v !== null).length).toBe(2); // 20 min ago and now, nothing between
    // the newest non-empty step (a new step may have begun since the report)
    expect(eu.filter((v) => v !== null).at(-1)).toBeCloseTo(1002, -1);
    const failed = await fetch(url('/v1/series?target=ch1&metric=outcome_failed&region=us'), {
      headers: bearer(TOKENS.viewer),
    });
    const f = (await failed.json()) as { series: { region: string; values: (number | null)[] }[] };
    expect(f.series).toHaveLength(1);
    expect(f.series[0]?.values.filter((v) => v !== null)).toEqual([1]);
    const bad = await fetch(url('/v1/series?target=ch1&metric=startup_ms&step=10s'), {
      headers: bearer(TOKENS.viewer),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('15s');
    const spec = (await (await fetch(url('/openapi.json'), { headers: bearer(TOKENS.viewer) })).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(spec.paths)).toContain('/v1/series');
  });

  it('sign-in gives an HttpOnly SameSite=Strict cookie; roles and Origin are enforced on cookie writes', async () => {
    expect((await fetch(url('/v1/session'))).status).toBe(401);
    const wrong = await fetch(url('/v1/session'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'nope-nope-nope' }),
    });
    expect(wrong.status).toBe(401);
    const signIn = async (token: string) => {
      const res = await fetch(url('/v1/session'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      expect(res.status).toBe(200);
      const set = res.headers.get('set-cookie') ?? '';
      expect(set).toMatch(/HttpOnly/i);
      expect(set).toMatch(/SameSite=Strict/i);
      expect(set).not.toContain(token);
      return set.split(';')[0] as string;
    };
    const viewer = await signIn(TOKENS.viewer);
    const operator = await signIn(TOKENS.operator);
    const who = await fetch(url('/v1/session'), { headers: { cookie: viewer } });
    expect(await who.json()).toEqual({ auth: true, name: 'wall', role: 'viewer' });
    expect((await fetch(url('/v1/board'), { headers: { cookie: viewer } })).status).toBe(200);
    // the live feed accepts the cookie (EventSource cannot send a header)
    const ac = new AbortController();
    const sse = await fetch(url('/v1/events'), { headers: { cookie: viewer }, signal: ac.signal });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
    ac.abort();
    // a tampered cookie is nobody
    const forged = viewer.replace(/\.[^.]+$/, '.AAAA');
    expect((await fetch(url('/v1/board'), { headers: { cookie: forged } })).status).toBe(401);

    const silence = {
      matchers: [{ name: 'target', value: 'ch1' }],
      duration: '1h',
      comment: 'test',
    };
    const write = (cookie: string, origin?: string) =>
      fetch(url('/v1/silences'), {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...(origin ? { origin } : {}) },
        body: JSON.stringify(silence),
      });
    const self = new URL(controller.url).origin;
    expect((await write(viewer, self)).status).toBe(403);
    expect((await write(operator)).status).toBe(403);
    expect((await write(operator, 'http://evil.example')).status).toBe(403);
    const ok = await write(operator, self);
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { created_by: string }).created_by).toBe('oncall');

    const out = await fetch(url('/v1/session'), {
      method: 'DELETE',
      headers: { cookie: operator, origin: self },
    });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie') ?? '').toMatch(/liveprobe_session=;/);
  });
});

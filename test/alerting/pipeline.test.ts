import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { type Controller, startController } from '../../controller/index.js';
import type { WorkCredit } from '../../controller/work-credit.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { REDACT_PATHS } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { names } from '../../shared/subjects.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';
import { failed, report, rulesYaml, startReceiver, waitFor } from './helpers.js';

const SECRET = 'test-hmac-secret-0123456789';
const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  admin: 'admin-token-0123456789abc',
};

/**
 * The alerting pipeline end to end: a real nats-server, a real controller (rules file with a signed
 * webhook, a PagerDuty-format receiver and a receiver that is down), reports published to JetStream as an
 * agent would, notifications caught by a local HTTP receiver.
 */
describe('alerting pipeline', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir('alerting');
  // The controller's log lines, kept to check that no receiver secret reaches them.
  let logText = '';
  const logger = pino(
    { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    new Writable({
      write(chunk, _enc, done) {
        logText += chunk.toString();
        done();
      },
    }),
  );

  const api = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${controller.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const alertsOf = async (target: string, state?: string) =>
    (await (
      await api('GET', `/v1/alerts?target=${target}${state ? `&state=${state}` : ''}`, TOKENS.viewer)
    ).json()) as {
      id: string;
      state: string;
      silenced_by: string[];
      evidence: {
        regions: { region: string; value: number; breaching: boolean; sample_reports: string[] }[];
      };
      notifications: { receiver: string; what: string; sent_at?: string }[];
    }[];
  /** Publishes and waits until the controller ingested them. */
  const publish = async (reports: Report[]) => {
    const ids = new Set(reports.map((r) => r.id));
    const seen = new Promise<void>((resolve) => {
      const on = (r: Report) => {
        ids.delete(r.id);
        if (ids.size === 0) {
          controller.events.off('report', on);
          resolve();
        }
      };
      controller.events.on('report', on);
    });
    for (const r of reports) await publisher.publish(r);
    await seen;
  };
  /** Lets the pipeline run at least n full evaluations from now, and the dispatcher drain. */
  const evaluations = async (n: number) => {
    const from = controller.alerting.stats.runs;
    await waitFor('evaluations', () => controller.alerting.stats.runs >= from + n);
    await controller.alerting.idle();
  };
  const hook = (target: string) => receiver.alerts('/hook').filter((a) => a.labels.target === target);

  beforeAll(async () => {
    nats = await startNats();
    receiver = await startReceiver(SECRET);
    const rulesFile = join(dir.path, 'rules.yaml');
    writeFileSync(rulesFile, rulesYaml(receiver.url, SECRET));
    const config = loadConfig({
      env: {
        LIVEPROBE_TOKENS: `dash:viewer:${TOKENS.viewer},oncall:operator:${TOKENS.operator},ops:admin:${TOKENS.admin}`,
      },
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'controller.rulesFile': rulesFile,
      },
    });
    controller = await startController({ config, logger });
    nc = await connect({ servers: nats.url });
    publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    await waitFor('alerting lease', () => controller.alerting.isLeader);
  });

  afterAll(async () => {
    await nc?.close();
    await controller?.stop();
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('a fault seen from one region only, with quorum 2, never pages', async () => {
    await publish([failed('q1', 'eu'), failed('q1', 'eu'), report('q1', 'us'), report('q1', 'ap')]);
    await evaluations(2);
    for (let i = 0; i < 3; i++) {
      await publish([failed('q1', 'eu'), report('q1', 'us')]);
      await evaluations(1);
    }
    expect(receiver.receipts.filter((r) => JSON.stringify(r.body).includes('"q1"'))).toEqual([]);
    expect(await alertsOf('q1')).toEqual([]);
  });

  it('a second region makes it page: exactly once, with evidence; resolves exactly once', async () => {
    // us had 4 good reports so far: 8 failures make its success ratio 1/3.
    const us = [...Array(8)].map(() => failed('q1', 'us'));
    await publish(us);
    const [page] = await waitFor('the page', () => hook('q1').length > 0 && hook('q1'));
    expect(page?.status).toBe('firing');
    const [alert] = await alertsOf('q1');
    expect(alert?.state).toBe('firing');
    const regions = Object.fromEntries(alert?.evidence.regions.map((r) => [r.region, r]) ?? []);
    expect(regions.eu).toMatchObject({ breaching: true });
    expect(regions.us).toMatchObject({ breaching: true, value: 0.3333 });
    expect(regions.ap).toMatchObject({ breaching: false, value: 1 });
    expect(regions.us?.sample_reports.length).toBeGreaterThan(0);
    expect(us.map((r) => r.id)).toEqual(expect.arrayContaining(regions.us?.sample_reports ?? []));

    // Still failing for a while: no second page.
    for (let i = 0; i < 3; i++) {
      await publish([failed('q1', 'eu'), failed('q1', 'us')]);
      await evaluations(1);
    }
    expect(hook('q1').map((a) => a.status)).toEqual(['firing']);

    // Recovery: enough good reports in every region.
    await publish([...Array(16)].flatMap(() => [report('q1', 'eu'), report('q1', 'us')]));
    await waitFor('the resolve notice', () => hook('q1').length === 2);
    await evaluations(3);
    expect(hook('q1').map((a) => a.status)).toEqual(['firing', 'resolved']);
    expect(new Set(hook('q1').map((a) => a.fingerprint)).size).toBe(1);
    expect(receiver.receipts.filter((r) => r.path === '/hook').every((r) => r.signed)).toBe(true);

    // PagerDuty Events v2: trigger then resolve, one dedup_key.
    const pd = receiver.receipts
      .filter((r) => r.path === '/pd/v2/enqueue')
      .map(
        (r) =>
          r.body as {
            event_action: string;
            dedup_key: string;
            routing_key: string;
            payload?: { summary: string };
          },
      )
      .filter((e) => e.dedup_key === `liveprobe-${alert?.id}`);
    expect(pd.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(pd[0]?.routing_key).toBe('test-routing-key');
    expect(pd[0]?.payload?.summary).toMatch(/^q1 unplayable in 2\+ regions/);

    // The receiver that is down was retried and never held the others back.
    const broken = receiver.receipts.filter(
      (r) => r.path === '/broken' && JSON.stringify(r.body).includes(alert?.id ?? '-'),
    );
    expect(broken.length).toBeGreaterThan(1);
    expect(hook('q1')[0]?.at).toBeLessThanOrEqual(broken[broken.length - 1]?.at ?? 0);

    const history = (await (await api('GET', '/v1/alerts/history?target=q1', TOKENS.viewer)).json()) as {
      fingerprint: string;
      state: string;
      resolved_at?: string;
    }[];
    expect(history).toEqual([
      expect.objectContaining({ fingerprint: alert?.id, state: 'resolved', resolved_at: expect.any(String) }),
    ]);
    const view = (await alertsOf('q1', 'resolved'))[0];
    expect(view?.notifications.map((n) => `${n.receiver}:${n.what}:${Boolean(n.sent_at)}`).sort()).toEqual([
      'broken:firing:false',
      'broken:resolved:false',
      'hook:firing:true',
      'hook:resolved:true',
      'pd:firing:true',
      'pd:resolved:true',
    ]);
  });

  it('a silenced alert is not sent; it is sent when the silence ends while it still fires', async () => {
    const res = await api('POST', '/v1/silences', TOKENS.operator, {
      matchers: [{ name: 'target', value: 's1' }],
      duration: '10m',
      comment: 'origin maintenance',
    });
    expect(res.status).toBe(201);
    const silence = (await res.json()) as { id: string; status: string; created_by: string };
    expect(silence).toMatchObject({ status: 'active', created_by: 'oncall' });
    expect((await api('POST', '/v1/silences', TOKENS.viewer, { matchers: [], comment: '' })).status).toBe(
      403,
    );
    const past = await api('POST', '/v1/silences', TOKENS.operator, {
      matchers: [{ name: 'target', value: 's1' }],
      ends_at: new Date(Date.now() - 1000).toISOString(),
      comment: 'too late',
    });
    expect(past.status).toBe(400);
    expect(((await past.json()) as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(
      'body.ends_at',
    );

    await publish([failed('s1', 'eu'), failed('s1', 'us'), failed('s1', 'eu'), failed('s1', 'us')]);
    const [alert] = await waitFor('the silenced alert', async () => {
      const a = await alertsOf('s1');
      return a.length > 0 && a;
    });
    expect(alert).toMatchObject({ state: 'firing', silenced_by: [silence.id] });
    for (let i = 0; i < 3; i++) {
      await publish([failed('s1', 'eu'), failed('s1', 'us')]);
      await evaluations(1);
    }
    expect(receiver.receipts.filter((r) => JSON.stringify(r.body).includes('"s1"'))).toEqual([]);

    const expired = await api('DELETE', `/v1/silences/${silence.id}`, TOKENS.operator);
    expect(((await expired.json()) as { status: string }).status).toBe('expired');
    await waitFor('the page after the silence', () => hook('s1').length === 1);
    await publish([...Array(12)].flatMap(() => [report('s1', 'eu'), report('s1', 'us')]));
    await waitFor('the resolve notice', () => hook('s1').length === 2);
    await evaluations(2);
    expect(hook('s1').map((a) => a.status)).toEqual(['firing', 'resolved']);
  });

  it('streams alert state changes on the SSE feed', async () => {
    const abort = new AbortController();
    const res = await fetch(`${controller.url}/v1/events?types=alert&target=e1`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await publish([failed('e1', 'eu'), failed('e1', 'us')]);
    let text = '';
    while (!text.includes('"transition":"firing"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    expect(text).toMatch(/event: alert\ndata: \{"transition":"firing","alert":\{.*"target":"e1"/);
    await publish([...Array(6)].flatMap(() => [report('e1', 'eu'), report('e1', 'us')]));
    await waitFor('e1 resolved', () => hook('e1').length === 2);
  });

  it('/v1/rules: admin-only writes, field-level validation, file and API rules', async () => {
    const list = (await (await api('GET', '/v1/rules', TOKENS.viewer)).json()) as {
      id: string;
      source: string;
    }[];
    expect(list).toEqual([expect.objectContaining({ id: 'unplayable', source: 'file' })]);
    const rule = { id: 'stale', finding: 'playlist-stale', agg: 'count', threshold: 0, severity: 'critical' };
    expect((await api('POST', '/v1/rules', TOKENS.operator, rule)).status).toBe(403);
    const bad = await api('POST', '/v1/rules', TOKENS.admin, { ...rule, agg: 'p95' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(
      'body.agg',
    );
    const created = await api('POST', '/v1/rules', TOKENS.admin, rule);
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      id: 'stale',
      source: 'api',
      window: '1m',
      quorum: { regions: 1 },
    });
    expect((await api('POST', '/v1/rules', TOKENS.admin, rule)).status).toBe(409);
    const put = await api('PUT', '/v1/rules/stale', TOKENS.admin, { ...rule, for: '30s' });
    expect(await put.json()).toMatchObject({ for: '30s' });
    expect((await api('PUT', '/v1/rules/other', TOKENS.admin, rule)).status).toBe(400);
    expect((await api('DELETE', '/v1/rules/stale', TOKENS.admin)).status).toBe(204);
    expect((await api('GET', '/v1/rules/stale', TOKENS.viewer)).status).toBe(404);
  });

  it('an alert whose rule is deleted resolves (once)', async () => {
    const rule = {
      id: 'd1-fails',
      metric: 'success_ratio',
      agg: 'ratio',
      op: '<',
      threshold: 0.5,
      targets: ['d1'],
      severity: 'warning',
    };
    expect((await api('POST', '/v1/rules', TOKENS.admin, rule)).status).toBe(201);
    await publish([failed('d1', 'eu')]);
    await waitFor('the page', () => hook('d1').length === 1);
    expect((await api('DELETE', '/v1/rules/d1-fails', TOKENS.admin)).status).toBe(204);
    await waitFor('the resolve notice', () => hook('d1').length === 2);
    await evaluations(2);
    expect(hook('d1').map((a) => [a.labels.alertname, a.status])).toEqual([
      ['d1-fails', 'firing'],
      ['d1-fails', 'resolved'],
    ]);
  });

  it('serves and logs no receiver secret', async () => {
    const text = JSON.stringify(await (await api('GET', '/v1/rules', TOKENS.viewer)).json());
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('test-routing-key');
    expect(logText).toContain('notification sent');
    expect(logText).not.toContain(SECRET);
    expect(logText).not.toContain('test-routing-key');
  });

  // Last: it leaves the routine passes in debt (their next tick far away).
  it('evaluates a problem report in a pass of its own, not behind the routine passes’ debt or backlog', async () => {
    const inner = controller.alerting as unknown as { credit: WorkCredit; urgent: Set<string> };
    // Routine passes that overran by 10 s of CPU, and a backlog of deferred targets.
    inner.credit.spend(10_000 + inner.credit.available);
    // The routine pass already scheduled (within evaluation_interval) runs first: the one after it is far
    // away. Otherwise it could start while the problem's pass waits and take the problem (and backlog) along.
    const tickFrom = logText.length;
    await waitFor('the routine pass due before the debt', () =>
      logText.slice(tickFrom).includes('"kind":"tick"'),
    );
    await controller.alerting.idle();
    for (let i = 0; i < 40; i++) inner.urgent.add(`backlog-${i}`);
    const from = controller.alerting.stats.fastRuns;
    const logFrom = logText.length;
    await publish([failed('hot1', 'eu')]);
    await waitFor('a fast pass', () => controller.alerting.stats.fastRuns > from);
    await controller.alerting.idle();
    const lines = logText
      .slice(logFrom)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; kind?: string; evaluated?: number; waitMs?: number });
    // Scheduled at once (a tick would wait 10 000 / MAX_DUTY ms), and only the problem target evaluated.
    expect(lines.find((l) => l.msg === 'fast alert pass scheduled')?.waitMs).toBe(10);
    expect(lines.find((l) => l.msg === 'alert pass' && l.kind === 'fast')?.evaluated).toBe(1);
    expect(inner.urgent.has('backlog-0')).toBe(true);
  });

  // After the one above: its debt keeps the timed ticks away while this one runs a tick itself.
  it('cuts a routine pass short at its next slice when a problem report comes in meanwhile', async () => {
    const inner = controller.alerting as unknown as {
      hot: Set<string>;
      urgent: Set<string>;
      cutShort: boolean;
    };
    await controller.alerting.idle();
    const backlog = Array.from({ length: 80 }, (_, i) => `cut-${i}`);
    for (const t of backlog) inner.urgent.add(t);
    const pass = controller.alerting.run('tick');
    // The pass has evaluated its first slice and yields (setImmediate): a problem arrives after the next.
    setImmediate(() => inner.hot.add('hot-cut'));
    await pass;
    inner.hot.delete('hot-cut');
    const evaluated = controller.alerting.stats.lastScope;
    expect(evaluated).toBeGreaterThanOrEqual(8);
    expect(evaluated).toBeLessThan(backlog.length);
    // What it did not reach is first in line for the next tick, which comes as soon as credit allows.
    expect(backlog.filter((t) => inner.urgent.has(t)).length).toBeGreaterThanOrEqual(
      backlog.length - evaluated,
    );
    expect(inner.cutShort).toBe(true);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { JetStreamPublisher } from '../agent/publisher.js';
import { fieldNameAllowed, fieldNames } from '../controller/api/casing.js';
import { EXAMPLES } from '../controller/api/openapi.js';
import { InjectorView } from '../controller/api/routes/injectors.js';
import { type Controller, startController } from '../controller/index.js';
import { resolveChromiumPath } from '../probes/browser/index.js';
import { SweepRequest } from '../shared/api.js';
import { loadConfig } from '../shared/config.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import { InjectorHeartbeat } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { makeReport, waitFor } from './helpers/fleet.js';
import { freePort, startNats } from './helpers/procs.js';

const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  admin: 'admin-token-0123456789abc',
  burst: 'burst-token-0123456789abc',
};

type Json = Record<string, unknown>;
type OpenApi = {
  components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas: Json };
  security: unknown[];
  tags: { name: string }[];
  paths: Record<
    string,
    Record<string, Json & { operationId?: string; tags?: string[]; security?: unknown[] }>
  >;
};

describe('API contract: OpenAPI, problem+json, casing, pagination, SSE resume', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let doc: OpenApi;
  const logger = createLogger('test', 'warn');
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${controller.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    nats = await startNats();
    const config = loadConfig({
      env: {
        LIVEPROBE_TOKENS: `dash:viewer:${TOKENS.viewer},oncall:operator:${TOKENS.operator},ops:admin:${TOKENS.admin},burst:operator:${TOKENS.burst}`,
        LIVEPROBE_WRITE_RATE_LIMIT: '12',
      },
      overrides: {
        'nats.url': nats.url,
        'controller.port': await freePort(),
        'egress.allow': LOOPBACK_RULES,
      },
    });
    controller = await startController({ config, logger });
    nc = await connect({ servers: nats.url });
    publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    doc = (await (await call('GET', '/openapi.json', TOKENS.viewer)).json()) as OpenApi;
  });

  afterAll(async () => {
    await nc?.close();
    await controller?.stop();
    await nats?.stop();
  });

  it('documents a bearer scheme, a tag and a unique operationId on every operation', () => {
    expect(Object.values(doc.components.securitySchemes)).toContainEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    expect(doc.security).toEqual([{ bearer: [] }]);
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, op })),
    );
    expect(ops.length).toBeGreaterThan(30);
    const ids = ops.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const declared = new Set(doc.tags.map((t) => t.name));
    for (const { op } of ops) expect(op.tags?.every((t) => declared.has(t))).toBe(true);
    expect(doc.paths['/v1/targets']?.get?.operationId).toBe('listTargets');
    expect(doc.paths['/v1/agents/{id}/drain']?.post?.operationId).toBe('drainAgent');
    // public routes need no token
    expect(doc.paths['/healthz']?.get?.security).toEqual([]);
    // errors are documented as problem documents
    const responses = (doc.paths['/v1/targets/{id}']?.get?.responses ?? {}) as Json;
    const notFound = responses['404'] as Json;
    expect(Object.keys(notFound.content as Json)).toEqual(['application/problem+json']);
  });

  it('holds one casing convention over every field of the OpenAPI document', () => {
    const bad: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const name of fieldNames(item)) if (!fieldNameAllowed(path, name)) bad.push(`${path}: ${name}`);
    }
    for (const name of fieldNames(doc.components.schemas)) {
      if (!fieldNameAllowed('/components', name)) bad.push(`components: ${name}`);
    }
    expect(bad).toEqual([]);
    expect(fieldNames(doc.paths).length).toBeGreaterThan(100);
    // the predicate itself rejects what the convention forbids
    expect(fieldNameAllowed('/v1/targets', 'agent_id')).toBe(false);
    expect(fieldNameAllowed('/v1/targets', 'StartupMs')).toBe(false);
    expect(fieldNameAllowed('/v1/targets', 'startupMs')).toBe(true);
    expect(fieldNameAllowed('/v1/sweeps', 'startup_ms')).toBe(true);
  });

  it('documents request examples the API accepts', async () => {
    const example = (path: string, method: string) =>
      ((doc.paths[path]?.[method]?.requestBody as Json | undefined)?.content as Json | undefined)?.[
        'application/json'
      ] as { example?: unknown } | undefined;
    for (const [path, method, id] of [
      ['/v1/targets', 'post', 'createTarget'],
      ['/v1/sweeps', 'post', 'createSweep'],
      ['/v1/watches', 'post', 'createWatch'],
      ['/v1/silences', 'post', 'createSilence'],
      ['/v1/rules', 'post', 'createRule'],
    ] as const) {
      expect(example(path, method)?.example, id).toEqual(EXAMPLES[id]);
    }
    expect((await call('POST', '/v1/targets', TOKENS.admin, EXAMPLES.createTarget)).status).toBe(201);
    expect((await call('POST', '/v1/watches', TOKENS.operator, EXAMPLES.createWatch)).status).toBe(201);
    expect((await call('POST', '/v1/silences', TOKENS.operator, EXAMPLES.createSilence)).status).toBe(201);
    expect((await call('POST', '/v1/rules', TOKENS.admin, EXAMPLES.createRule)).status).toBe(201);
    // a sweep needs online agents to start; its example is at least a valid body
    expect(SweepRequest.safeParse(EXAMPLES.createSweep).success).toBe(true);
    expect(doc.paths['/v1/events']?.get?.description).toContain('Last-Event-ID');
  });

  it('serves Swagger UI at /docs, and it renders every tag in real Chromium', async () => {
    const res = await fetch(`${controller.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const profile = mkdtempSync(join(tmpdir(), 'liveprobe-docs-'));
    const browser = await puppeteer.launch({
      executablePath: resolveChromiumPath(undefined),
      headless: true,
      userDataDir: profile,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      defaultViewport: { width: 1280, height: 1000 },
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${controller.url}/docs/`, { waitUntil: 'load' });
      await page.waitForSelector('.opblock-tag', { timeout: 60_000 });
      const tags = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
      expect(tags).toEqual(expect.arrayContaining(['targets', 'sweeps', 'agents', 'alerts', 'events']));
      expect(await page.$eval('.info .title', (e) => e.textContent ?? '')).toContain(
        'liveprobe controller API',
      );
      // the bearer scheme is offered
      expect(await page.$('.auth-wrapper .authorize')).not.toBeNull();
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);

  it('answers every error path with application/problem+json', async () => {
    const expectProblem = async (res: Response, status: number) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ type: 'about:blank', status, title: expect.any(String) });
      expect(typeof body.detail).toBe('string');
      return body;
    };
    const nf = await expectProblem(await call('GET', '/v1/no-such-route', TOKENS.viewer), 404);
    expect(nf.instance).toBe('/v1/no-such-route');
    await expectProblem(await call('GET', '/v1/targets/nope', TOKENS.viewer), 404);
    await expectProblem(await call('GET', '/v1/targets'), 401);
    await expectProblem(await call('GET', '/v1/targets', 'wrong-token-0123456789'), 401);
    await expectProblem(await call('POST', '/v1/targets', TOKENS.viewer, { id: 'x' }), 403);
    const invalid = await expectProblem(
      await call('POST', '/v1/sweeps', TOKENS.operator, {
        targets: [],
        regions: [],
        probe: 'nope',
        durationS: -1,
      }),
      400,
    );
    // a validation error lists each invalid field
    const paths = (invalid.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.durationS', 'body.probe', 'body.regions']));
    expect(new Set(paths).size).toBe(paths.length);
    const q = await expectProblem(await call('GET', '/v1/summary?window=7y', TOKENS.viewer), 400);
    expect((q.issues as { path: string }[]).map((i) => i.path)).toContain('querystring.window');
    const badJson = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    await expectProblem(badJson, 400);
    const textBody = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/xml' },
      body: '<sweep/>',
    });
    await expectProblem(textBody, 415);
    const huge = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(300 * 1024) }),
    });
    await expectProblem(huge, 413);
    const rule = { id: 'dup-rule', metric: 'startup_ms', agg: 'p95', window: '5m', op: '>', threshold: 4000 };
    expect((await call('POST', '/v1/rules', TOKENS.admin, rule)).status).toBe(201);
    await expectProblem(await call('POST', '/v1/rules', TOKENS.admin, rule), 409);
    // 429: the burst token runs out of writes (limit 12 a minute)
    let last: Response | undefined;
    for (let i = 0; i < 13; i++) last = await call('POST', '/v1/sweeps', TOKENS.burst, {});
    const limited = await expectProblem(last as Response, 429);
    expect(limited.error).toBe('rate-limited');
    expect(last?.headers.get('retry-after')).toBeTruthy();
  });

  it('pages every list with limit and cursor, following Link rel="next"', async () => {
    for (const id of ['pg-e', 'pg-a', 'pg-d', 'pg-b', 'pg-c']) {
      expect(
        (
          await call('POST', '/v1/targets', TOKENS.admin, {
            id,
            url: `http://127.0.0.1:1/${id}.m3u8`,
            protocol: 'hls',
          })
        ).status,
      ).toBe(201);
    }
    const seen: string[] = [];
    let next: string | undefined = '/v1/targets?limit=2';
    let pages = 0;
    while (next) {
      const res = await call('GET', next, TOKENS.viewer);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { id: string }[];
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((t) => t.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      pages++;
    }
    const all = seen.filter((id) => id.startsWith('pg-'));
    expect(all).toEqual(['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e']);
    expect(pages).toBeGreaterThanOrEqual(3);
    // a bad cursor is a validation problem
    const bad = await call('GET', '/v1/targets?cursor=%%%', TOKENS.viewer);
    expect(bad.status).toBe(400);
    // every list route documents the parameters
    for (const path of [
      '/v1/targets',
      '/v1/sweeps',
      '/v1/agents',
      '/v1/injectors',
      '/v1/schedules',
      '/v1/watches',
      '/v1/alerts',
      '/v1/rules',
      '/v1/silences',
      '/v1/results',
    ]) {
      const params = (doc.paths[path]?.get?.parameters ?? []) as { name: string }[];
      expect(params.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'cursor']));
    }
  });

  it('lists clock-strip injectors from their heartbeats, as documented; ignores a heartbeat on the wrong subject', async () => {
    const hb = InjectorHeartbeat.parse({
      id: 7,
      name: 'studio-a',
      site: 'Venue Paris',
      version: 'test',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      at: new Date().toISOString(),
      uptimeS: 60,
      mode: 'paint',
      placement: 'bottom-left-0.5',
      input: 'srt://0.0.0.0:9000',
      output: 'srt://packager:9001',
      framesPainted: 1800,
      framesPassed: 0,
      addedDelayMs: 21,
      clockOffsetMs: -3,
      appliedOffsetMs: -3,
      clockSource: 'controller',
      restarts: 0,
      decodeErrors: 0,
    });
    nc.publish(names().injector(7), JSON.stringify(hb));
    // a body claiming id 8 on injector 9's subject: dropped
    nc.publish(names().injector(9), JSON.stringify({ ...hb, id: 8 }));
    const list = await waitFor('the injector listed', async () => {
      const l = (await (await call('GET', '/v1/injectors', TOKENS.viewer)).json()) as unknown[];
      return l.length > 0 ? l : undefined;
    });
    expect(list).toHaveLength(1);
    const view = InjectorView.parse(list[0]);
    expect(view).toMatchObject({ id: 7, site: 'Venue Paris', status: 'online', framesPainted: 1800 });
    expect(doc.paths['/v1/injectors']?.get?.operationId).toBe('listInjectors');
    expect(doc.paths['/v1/injectors/{id}']?.get?.operationId).toBe('getInjector');
    expect((await call('GET', '/v1/injectors/7', TOKENS.viewer)).status).toBe(200);
    const missing = await call('GET', '/v1/injectors/8', TOKENS.viewer);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });

  it('serves the runbook of every shipped rule at the relative runbook_url its annotations name', async () => {
    const rules = parseYaml(
      readFileSync(join(import.meta.dirname, '..', 'deploy', 'rules.yaml'), 'utf8'),
    ) as {
      rules: { id: string; annotations?: { runbook_url?: string } }[];
    };
    expect(rules.rules.length).toBeGreaterThan(5);
    for (const rule of rules.rules) {
      expect(rule.annotations?.runbook_url).toBe(`runbooks/${rule.id}`);
      // public (no token), Markdown
      const res = await fetch(`${controller.url}/${rule.annotations?.runbook_url}`);
      expect(res.status, rule.id).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/markdown');
      expect((await res.text()).trimStart().startsWith('#')).toBe(true);
    }
    const missing = await fetch(`${controller.url}/runbooks/no-such-rule`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${controller.url}/runbooks/..%2Fpackage`)).status).toBe(400);
  });

  it('resumes the live feed after a 10 s disconnect with Last-Event-ID, without a gap or a repeat', async () => {
    const ingested = new Set<string>();
    controller.events.on('report', (r) => ingested.add(r.id));
    const read = async (
      res: Response,
      until: (events: { id?: number; type: string; data: Json }[]) => boolean,
    ) => {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const events: { id?: number; type: string; data: Json }[] = [];
      let buf = '';
      while (!until(events)) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += new TextDecoder().decode(value);
        let cut = buf.indexOf('\n\n');
        while (cut >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          cut = buf.indexOf('\n\n');
          const field = (k: string) =>
            /^(.*)$/m.exec(
              block
                .split('\n')
                .find((l) => l.startsWith(`${k}: `))
                ?.slice(k.length + 2) ?? '',
            )?.[1];
          const data = field('data');
          if (!data) continue;
          const id = field('id');
          events.push({
            id: id ? Number(id) : undefined,
            type: field('event') ?? 'message',
            data: JSON.parse(data) as Json,
          });
        }
      }
      await reader.cancel();
      return events;
    };
    const report = (n: number) => makeReport({ jobId: `sse-${n}`, region: 'eu', targetId: 'sse1' });
    const sse = (headers: Record<string, string> = {}) =>
      fetch(`${controller.url}/v1/events?types=report&target=sse1`, {
        headers: { authorization: `Bearer ${TOKENS.viewer}`, ...headers },
      });

    const first = await sse();
    await publisher.publish(report(1));
    const before = await read(first, (ev) => ev.some((e) => e.data.id === 'sse-1:0'));
    const lastId = before.find((e) => e.data.id === 'sse-1:0')?.id;
    expect(lastId).toBeGreaterThan(0);
    const disconnectedAt = Date.now();

    // missed while away: three reports of this target, one of another (filtered out on replay too)
    for (const n of [2, 3, 4]) await publisher.publish(report(n));
    await publisher.publish(makeReport({ jobId: 'sse-other', region: 'eu', targetId: 'other' }));
    await waitFor('the missed reports ingested', () =>
      ['sse-2:0', 'sse-3:0', 'sse-4:0', 'sse-other:0'].every((id) => ingested.has(id)),
    );
    // the scenario: a client away for 10 s (network drop, laptop lid), not a synchronisation wait
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - disconnectedAt))));

    const again = await sse({ 'last-event-id': String(lastId) });
    // a live report while the missed ones are replayed: held, then sent after them
    await publisher.publish(report(5));
    const after = await read(again, (ev) => ev.some((e) => e.data.id === 'sse-5:0'));
    const ids = after.map((e) => e.data.id);
    expect(ids).toEqual(['sse-2:0', 'sse-3:0', 'sse-4:0', 'sse-5:0']);
    const seqs = after.map((e) => e.id as number);
    expect(seqs.every((s, i) => s > (i === 0 ? (lastId as number) : (seqs[i - 1] as number)))).toBe(true);
  }, 60_000);
});

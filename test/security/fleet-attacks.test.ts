/**
 * Attacks on a real fleet (nats-server, controller, agent with the real stream probe) through the API, with
 * viewer / operator / admin tokens: SSRF at the API and through a redirect, an ad hoc target posing as a
 * registered one, signed URLs shown to a viewer, a label alerting could not store, a catastrophic regex in a
 * silence, and a flood of event streams.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../../agent/index.js';
import { createProbers } from '../../cli/probers.js';
import { type Controller, startController } from '../../controller/index.js';
import type { Sweep } from '../../shared/api.js';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { freePort, startNats } from '../helpers/procs.js';

const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
};
type Role = keyof typeof TOKENS;

describe('security: attacks on a running fleet', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let agent: Agent;
  let origin: http.Server;
  let inside: http.Server;
  const insideHits: string[] = [];
  let originUrl = '';
  let insidePort = 0;

  const call = async (role: Role, method: string, path: string, body?: unknown) => {
    const r = await fetch(controller.url + path, {
      method,
      headers: {
        authorization: `Bearer ${TOKENS[role]}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, text: await r.text() };
  };
  const sweepDone = async (id: string): Promise<Sweep> => {
    await new Promise<void>((resolve) => {
      const check = (s: { id: string; state: string }) => {
        if (s.id === id && s.state === 'done') {
          controller.events.off('sweep', check);
          resolve();
        }
      };
      controller.events.on('sweep', check);
      if (controller.sweeps.get(id)?.state === 'done') check({ id, state: 'done' });
    });
    return controller.sweeps.get(id) as Sweep;
  };

  beforeAll(async () => {
    // "inside": a service on a loopback address the fleet must never reach (stands in for metadata).
    inside = http.createServer((req, res) => {
      insideHits.push(req.url ?? '');
      res.end('#EXTM3U\n');
    });
    inside.listen(0, '127.0.0.1');
    await once(inside, 'listening');
    insidePort = (inside.address() as AddressInfo).port;
    // the hostile origin: allowed, but redirects inside (by address, and by a name resolving to loopback)
    origin = http.createServer((req, res) => {
      if (req.url?.startsWith('/redirect.m3u8')) {
        res.writeHead(302, { location: `http://127.0.0.1:${insidePort}/secret.m3u8` });
      } else if (req.url?.startsWith('/rebind.m3u8')) {
        // `vm` is in /etc/hosts as 127.0.0.1: only the connect-time address check can catch it
        res.writeHead(302, { location: `http://vm:${insidePort}/rebind-secret.m3u8` });
      } else res.writeHead(404);
      res.end();
    });
    origin.listen(0, '127.0.0.2');
    await once(origin, 'listening');
    originUrl = `http://127.0.0.2:${(origin.address() as AddressInfo).port}`;

    nats = await startNats();
    const config = loadConfig({
      env: {
        LIVEPROBE_TOKENS: `v:viewer:${TOKENS.viewer},o:operator:${TOKENS.operator},a:admin:${TOKENS.admin}`,
        // only the hostile origin's exact address is opened; the rest of loopback stays closed
        LIVEPROBE_EGRESS_ALLOW: '127.0.0.2/32',
      },
      overrides: {
        'nats.url': nats.url,
        'controller.port': await freePort(),
        'agent.region': 'local',
        'agent.heartbeatS': 1,
      },
    });
    const logger = createLogger('test', 'warn');
    controller = await startController({ config, logger });
    agent = await startAgent({ config, logger, probers: createProbers(config, logger) });
  }, 90_000);

  afterAll(async () => {
    await agent?.stop({ graceMs: 0 });
    await controller?.stop();
    await nats?.stop();
    origin?.close();
    inside?.close();
  });

  it('refuses internal addresses, metadata names and other schemes at the API', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/x.m3u8',
      'http://[fe80::1]/x.m3u8',
      'http://metadata.google.internal/x.m3u8',
      'http://10.0.0.8/x.m3u8',
      'http://[::ffff:127.0.0.1]/x.m3u8',
      'http://2130706433/x.m3u8', // 127.0.0.1 in decimal
      'file:///etc/passwd',
      'gopher://127.0.0.2/x',
    ]) {
      const sweep = await call('operator', 'POST', '/v1/sweeps', {
        targets: [{ url, protocol: 'hls' }],
        regions: ['local'],
        probe: 'stream',
        durationS: 5,
      });
      expect(sweep.status, url).toBe(400);
      const watch = await call('operator', 'POST', '/v1/watches', {
        id: 'w-ssrf',
        target: { url, protocol: 'hls' },
        regions: ['local'],
      });
      expect(watch.status, url).toBe(400);
      const target = await call('admin', 'POST', '/v1/targets', { id: 't-ssrf', url, protocol: 'hls' });
      expect(target.status, url).toBe(400);
    }
    expect(insideHits).toEqual([]);
  });

  it('blocks a redirect hop into the network, and a name resolving there, as a probe-error of ours', async () => {
    for (const path of ['/redirect.m3u8', '/rebind.m3u8']) {
      const r = await call('operator', 'POST', '/v1/sweeps', {
        targets: [{ url: `${originUrl}${path}`, protocol: 'hls' }],
        regions: ['local'],
        probe: 'stream',
        durationS: 3,
      });
      expect(r.status).toBe(202);
      const sweep = await sweepDone(JSON.parse(r.text).id);
      const report = sweep.reports[0];
      expect(report?.outcome, path).toBe('probe-error');
      expect(report?.reasons[0], path).toMatch(/^blocked-by-policy: /);
      expect(report?.errors.some((e) => e.type === 'blocked-by-policy')).toBe(true);
    }
    expect(insideHits).toEqual([]);
  }, 60_000);

  it('refuses an ad hoc target that reuses a registered id (409)', async () => {
    expect(
      (await call('admin', 'POST', '/v1/targets', { id: 'reg', url: `${originUrl}/a.m3u8`, protocol: 'hls' }))
        .status,
    ).toBe(201);
    const r = await call('operator', 'POST', '/v1/sweeps', {
      targets: [{ id: 'reg', url: `${originUrl}/other.m3u8`, protocol: 'hls' }],
      regions: ['local'],
      probe: 'stream',
      durationS: 5,
    });
    expect(r.status).toBe(409);
    const w = await call('operator', 'POST', '/v1/watches', {
      id: 'w-reg',
      target: { id: 'reg', url: `${originUrl}/other.m3u8`, protocol: 'hls' },
      regions: ['local'],
    });
    expect(w.status).toBe(409);
  });

  it('never shows a viewer a URL token: targets, sweeps, results, events', async () => {
    const signed = `${originUrl}/signed.m3u8?token=SECRET123XYZ&exp=1`;
    expect(
      (await call('admin', 'POST', '/v1/targets', { id: 'signed', url: signed, protocol: 'hls' })).status,
    ).toBe(201);
    // the operator sees what it stored; a viewer's event stream runs while the sweep reports
    expect((await call('admin', 'GET', '/v1/targets/signed')).text).toContain('SECRET123XYZ');
    const events = await fetch(`${controller.url}/v1/events`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    const reader = events.body?.getReader();
    const chunks: string[] = [];
    // read until the report event has come (it may trail the sweep's own 'done' event)
    const reading = (async () => {
      while (!chunks.join('').includes('event: report')) {
        const next = await reader?.read();
        if (!next || next.done) return;
        chunks.push(Buffer.from(next.value).toString());
      }
    })();
    const r = await call('operator', 'POST', '/v1/sweeps', {
      targets: ['signed'],
      regions: ['local'],
      probe: 'stream',
      durationS: 2,
    });
    expect(r.status).toBe(202);
    const id = JSON.parse(r.text).id as string;
    await sweepDone(id);
    await reading;
    await reader?.cancel();
    const reads = [
      await call('viewer', 'GET', '/v1/targets'),
      await call('viewer', 'GET', '/v1/targets/signed'),
      await call('viewer', 'GET', `/v1/sweeps/${id}`),
      await call('viewer', 'GET', '/v1/sweeps'),
      await call('viewer', 'GET', '/v1/results?target=signed'),
    ];
    for (const x of reads) {
      expect(x.status).toBe(200);
      expect(x.text).not.toContain('SECRET123XYZ');
    }
    expect(reads[2]?.text).toContain('signed.m3u8?token=redacted');
    const streamed = chunks.join('');
    expect(streamed).toContain('event: report');
    expect(streamed).not.toContain('SECRET123XYZ');
  }, 60_000);

  it('refuses a target label alerting could not store (cost-center)', async () => {
    const r = await call('admin', 'POST', '/v1/targets', {
      id: 'labelled',
      url: `${originUrl}/a.m3u8`,
      protocol: 'hls',
      labels: { 'cost-center': 'x' },
    });
    expect(r.status).toBe(400);
    expect(r.text).toContain('labels');
  });

  it('matches a catastrophic silence regex in linear time; refuses what RE2 cannot run', async () => {
    const evil = `(?:${Array(8).fill('[a-z-]').join('|')})*x`;
    const ok = await call('operator', 'POST', '/v1/silences', {
      matchers: [{ name: 'alertname', value: evil, is_regex: true }],
      duration: '1h',
      comment: 'redos',
    });
    expect(ok.status).toBe(201);
    // the evaluator matches every alert's labels against it; a backtracking engine would take hours here
    const { matcherMatches } = await import('../../controller/alerting/silence.js');
    expect(
      matcherMatches({ name: 'a', value: evil, is_regex: true, is_equal: true }, { a: 'a'.repeat(50_000) }),
    ).toBe(false);
    expect((await call('viewer', 'GET', '/v1/alerts')).status).toBe(200);
    const backref = await call('operator', 'POST', '/v1/silences', {
      matchers: [{ name: 'alertname', value: '(a+)\\1', is_regex: true }],
      duration: '1h',
      comment: 'backreference',
    });
    expect(backref.status).toBe(400);
    const long = await call('operator', 'POST', '/v1/silences', {
      matchers: [{ name: 'alertname', value: 'x' }],
      duration: '8760h',
      comment: 'a year',
    });
    expect(long.status).toBe(400);
  });

  it('caps event streams per token (429) and stays up', async () => {
    const ctrls: AbortController[] = [];
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const c = new AbortController();
        ctrls.push(c);
        const r = await fetch(`${controller.url}/v1/events`, {
          headers: { authorization: `Bearer ${TOKENS.viewer}` },
          signal: c.signal,
        });
        if (r.status !== 200) await r.text();
        return r.status;
      }),
    );
    // 16 per token (a stream of the previous test may still be closing on the server side)
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(16);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(24);
    // another token still gets its own streams; health answers
    const other = new AbortController();
    const op = await fetch(`${controller.url}/v1/events`, {
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      signal: other.signal,
    });
    expect(op.status).toBe(200);
    expect((await fetch(`${controller.url}/healthz`)).status).toBe(200);
    for (const c of [...ctrls, other]) c.abort();
  });
});

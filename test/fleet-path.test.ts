import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../agent/index.js';
import type { Controller } from '../controller/index.js';
import { startController } from '../controller/index.js';
import type { ProbeJob, Prober } from '../probes/types.js';
import { Sweep } from '../shared/api.js';
import { loadConfig } from '../shared/config.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import type { ProbeKind, ProbeResult } from '../shared/schemas.js';
import { freePort, startNats } from './helpers/procs.js';

/**
 * The fleet path with real nats-server, controller and agent; only the measurement is a stand-in (a pure
 * function of the job), so this checks queueing, publishing, ingest and the API, not playback.
 */
class EchoProber implements Prober {
  readonly runs: ProbeJob[] = [];
  constructor(readonly kind: ProbeKind) {}
  async run(job: ProbeJob): Promise<ProbeResult> {
    this.runs.push(job);
    const now = new Date().toISOString();
    return {
      target: job.target,
      probe: this.kind,
      mode: job.mode,
      startedAt: now,
      endedAt: now,
      outcome: 'ok',
      reasons: [],
      metrics: { startup_ms: 123 },
      segments: [],
      errors: [],
      findings: [],
    };
  }
  async close() {}
}

describe('sweep through NATS JetStream', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let agent: Agent;
  const browser = new EchoProber('browser');
  const logger = createLogger('test', 'warn');

  beforeAll(async () => {
    nats = await startNats();
    const config = loadConfig({
      env: {},
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'agent.region': 'eu-west',
        'agent.heartbeatS': 1,
      },
    });
    controller = await startController({ config, logger });
    agent = await startAgent({ config, logger, probers: { browser, stream: new EchoProber('stream') } });
  });

  afterAll(async () => {
    await agent?.stop();
    await controller?.stop();
    await nats?.stop();
  });

  it('runs one job per target x region and reports back through the API', async () => {
    const put = await fetch(`${controller.url}/v1/targets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'ch1',
        url: 'http://127.0.0.1:1/live.m3u8',
        protocol: 'hls',
        rendition: { maxHeight: 240 },
      }),
    });
    expect(put.status).toBe(201);
    const res = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: ['ch1', { url: 'http://127.0.0.1:1/other.m3u8', protocol: 'hls' }],
        regions: ['eu-west'],
        durationS: 5,
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = new Promise<void>((resolve) => {
      controller.events.on('sweep', (s) => s.id === id && s.state === 'done' && resolve());
    });
    if (controller.sweeps.get(id)?.state !== 'done') await done;
    const sweep = Sweep.parse(await (await fetch(`${controller.url}/v1/sweeps/${id}`)).json());
    expect(sweep.state).toBe('done');
    expect(sweep.reports).toHaveLength(2);
    expect(sweep.perRegion['eu-west']).toMatchObject({ expected: 2, received: 2, ok: 2, missing: 0 });
    expect(sweep.reports.every((r) => r.agentId === agent.id && r.metrics.startup_ms === 123)).toBe(true);
    expect(browser.runs.map((j) => j.target.url).sort()).toEqual([
      'http://127.0.0.1:1/live.m3u8',
      'http://127.0.0.1:1/other.m3u8',
    ]);
    // The target's rendition choice travels in its jobs; an ad hoc URL plays the whole ladder.
    const byUrl = new Map(browser.runs.map((j) => [j.target.url, j]));
    expect(byUrl.get('http://127.0.0.1:1/live.m3u8')?.rendition).toEqual({ maxHeight: 240 });
    expect(byUrl.get('http://127.0.0.1:1/other.m3u8')?.rendition).toBeUndefined();

    const results = await (await fetch(`${controller.url}/v1/results?target=ch1&region=eu-west`)).json();
    expect(results.reports).toHaveLength(1);
    expect(results.reports[0].target.id).toBe('ch1');

    const agents = await (await fetch(`${controller.url}/v1/agents`)).json();
    expect(agents).toEqual([
      expect.objectContaining({ agentId: agent.id, region: 'eu-west', status: 'online' }),
    ]);
  });

  it('rejects bad input with field-level errors', async () => {
    const res = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [], regions: ['a.b'], durationS: -1 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: { path: string }[] };
    const paths = body.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.targets', 'body.regions.0', 'body.durationS']));
    const unknown = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ targets: ['nope'], regions: ['eu-west'] }),
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('unknown target id nope');
  });
});

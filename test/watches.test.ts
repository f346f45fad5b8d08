import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../agent/index.js';
import { createProbers } from '../cli/probers.js';
import { type Controller, startController } from '../controller/index.js';
import { type Config, loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import { startTestbed, type Testbed } from '../testbed/index.js';
import { freePort, startNats } from './helpers/procs.js';

/** A continuous stream-probe watch through the real fleet path, a controller restart, then a stop. */
describe('watches', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let testbed: Testbed;
  let controller: Controller;
  let agent: Agent;
  let config: Config;
  const logger = createLogger('test', 'warn');
  const api = (path: string, init?: RequestInit) =>
    fetch(`${controller.url}${path}`, {
      ...init,
      headers: init?.body ? { 'content-type': 'application/json' } : {},
    });
  const nextReport = (pred: (r: Report) => boolean) =>
    new Promise<Report>((resolve) => {
      const on = (r: Report) => {
        if (pred(r)) {
          controller.events.off('report', on);
          resolve(r);
        }
      };
      controller.events.on('report', on);
    });

  beforeAll(async () => {
    nats = await startNats();
    testbed = await startTestbed({ port: 0, ladder: 'single', logger });
    config = loadConfig({
      env: {},
      overrides: {
        'nats.url': nats.url,
        'controller.port': await freePort(),
        'agent.region': 'local',
        'agent.heartbeatS': 1,
      },
    });
    controller = await startController({ config, logger });
    agent = await startAgent({ config, logger, probers: createProbers(config, logger) });
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await controller?.stop();
    await testbed?.stop();
    await nats?.stop();
  });

  it('reports every interval, survives a controller restart, and stops on request', async () => {
    const url = testbed.streams[0]?.url as string;
    const created = await api('/v1/watches', {
      method: 'POST',
      body: JSON.stringify({
        id: 'w1',
        target: { id: 'tb', url, protocol: 'hls' },
        regions: ['local'],
        probe: 'stream',
        intervalS: 2,
      }),
    });
    expect(created.status).toBe(201);
    const first = await nextReport((r) => r.mode === 'watch' && r.seq >= 1);
    const second = await nextReport((r) => r.mode === 'watch' && r.seq > first.seq);
    expect(second.jobId).toBe(first.jobId);
    expect(second.target.id).toBe('tb');
    expect(second.outcome).toBe('ok');

    await controller.stop();
    controller = await startController({ config, logger });
    const listed = await (await api('/v1/watches')).json();
    expect(listed).toEqual([expect.objectContaining({ id: 'w1', enabled: true })]);
    expect(listed[0].chunks.local.jobId).toBe(first.jobId);
    // The agent kept probing while the controller was away; reports keep arriving at the new one.
    await nextReport((r) => r.jobId === first.jobId && r.seq > second.seq);

    const summary = nextReport((r) => r.jobId === first.jobId && r.seq === 0);
    expect((await api('/v1/watches/w1', { method: 'DELETE' })).status).toBe(204);
    expect((await summary).mode).toBe('watch');
    expect((await api('/v1/watches')).status).toBe(200);
    expect(await (await api('/v1/watches')).json()).toEqual([]);
  }, 120_000);
});

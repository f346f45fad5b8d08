import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, startController } from '../controller/index.js';
import { createLogger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import type { Testbed } from '../testbed/index.js';
import { type Stack, startStack } from './helpers/stack.js';

/** A continuous stream-probe watch through the real fleet path, a controller restart, then a stop. */
describe('watches', () => {
  let stack: Stack;
  let testbed: Testbed;
  let controller: Controller;
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
    stack = await startStack({ ladder: 'single' });
    ({ testbed, controller } = stack);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
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
    controller = await startController({ config: stack.config, logger });
    stack.controller = controller;
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

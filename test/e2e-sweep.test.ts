import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Controller } from '../controller/index.js';
import { Sweep } from '../shared/api.js';
import type { Testbed } from '../testbed/index.js';
import { type Stack, startStack } from './helpers/stack.js';

/**
 * The foundation's end-to-end path with a real part on every hop: ffmpeg live source with the in-frame
 * clock -> origin -> Chromium + hls.js -> agent -> nats-server JetStream -> controller -> HTTP API.
 */
describe('end to end: a browser sweep of the live testbed', () => {
  let stack: Stack;
  let testbed: Testbed;
  let controller: Controller;

  beforeAll(async () => {
    stack = await startStack({ ladder: 'single' });
    ({ testbed, controller } = stack);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('yields a report with startup, timed segments and matching g2g / PDT latency', async () => {
    const stream = testbed.streams.find((s) => s.protocol === 'hls');
    expect(stream).toBeDefined();
    const put = await fetch(`${controller.url}/v1/targets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'testbed', url: stream?.url, protocol: 'hls' }),
    });
    expect(put.status).toBe(201);
    const res = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ targets: ['testbed'], regions: ['local'], probe: 'browser', durationS: 15 }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await new Promise<void>((resolve) => {
      if (controller.sweeps.get(id)?.state === 'done') return resolve();
      controller.events.on('sweep', (s) => s.id === id && s.state === 'done' && resolve());
    });

    const sweep = Sweep.parse(await (await fetch(`${controller.url}/v1/sweeps/${id}`)).json());
    expect(sweep.state).toBe('done');
    expect(sweep.reports).toHaveLength(1);
    const report = sweep.reports[0]!;
    const m = report.metrics;
    expect(report.outcome, report.reasons.join('; ')).toBe('ok');
    expect(m.startup_ms).toBeGreaterThan(0);
    // A sweep keeps its reports trimmed (no segment timings); the full report is in the results stream.
    expect(sweep.verdict).toBe('go');
    const full = (await (await fetch(`${controller.url}/v1/results?target=testbed`)).json()) as {
      reports: { id: string; segments: unknown[] }[];
    };
    expect(full.reports.find((r) => r.id === report.id)?.segments.length).toBeGreaterThanOrEqual(3);
    expect(m.segments_total).toBeGreaterThanOrEqual(3);
    expect(m.g2g_p50_ms).toBeDefined();
    expect(m.pdt_latency_p50_ms).toBeDefined();
    expect(
      Math.abs((m.g2g_p50_ms ?? 0) - (m.pdt_latency_p50_ms ?? Number.POSITIVE_INFINITY)),
    ).toBeLessThanOrEqual(150);
    expect(report.latency_method).toBe('stamp');
    expect(m.clock_offset_ms).toBeDefined();
    // The startup parts are measured from the same origin as startup_ms and happen before the first frame.
    for (const part of Object.values(report.startup ?? {}))
      expect(part).toBeLessThanOrEqual(m.startup_ms ?? 0);
  }, 120_000);
});

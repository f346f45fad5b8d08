/**
 * A job that takes down every agent that runs it (a hostile stream past the bounds): two agent processes
 * are killed -9 while they hold it; the third recognises it on redelivery and reports a probe-error instead
 * of running it, so it does not take down a third agent, nor a fourth and fifth.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, startController } from '../../controller/index.js';
import type { Sweep } from '../../shared/api.js';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { kill9, spawnStandInAgent, waitFor } from '../helpers/fleet.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';

describe('a job that crashes its agents is recognised on redelivery', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  const spool = tempDir('poison-spool');
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    nats = await startNats();
    const config = loadConfig({
      env: {},
      // a short ack wait: a dead agent's job comes back within seconds
      overrides: { 'nats.url': nats.url, 'controller.port': await freePort(), 'nats.jobAckWaitS': 2 },
    });
    controller = await startController({ config, logger: createLogger('test', 'warn') });
  });

  afterAll(async () => {
    for (const c of children) await kill9(c);
    await controller?.stop();
    await nats?.stop();
    spool.remove();
  });

  const agent = (id: string) => {
    const c = spawnStandInAgent({
      NATS_URL: nats.url,
      LIVEPROBE_AGENT_ID: id,
      LIVEPROBE_REGION: 'poison',
      LIVEPROBE_HEARTBEAT_S: '1',
      LIVEPROBE_SPOOL_DIR: spool.path,
    });
    children.push(c);
    return c;
  };
  const holding = (id: string) =>
    waitFor(`${id} to hold the job`, async () => {
      const agents = (await (await fetch(`${controller.url}/v1/agents`)).json()) as {
        agentId: string;
        heartbeat?: { jobs?: string[] };
      }[];
      return agents.find((a) => a.agentId === id)?.heartbeat?.jobs?.length ? true : undefined;
    });

  it('kills two agents, then the third reports job-poisoned instead of running it', async () => {
    // the region must be known (an agent in it) before a sweep may name it
    let victim = agent('victim-1');
    await waitFor('victim-1 online', async () => {
      const agents = (await (await fetch(`${controller.url}/v1/agents`)).json()) as { agentId: string }[];
      return agents.some((a) => a.agentId === 'victim-1') || undefined;
    });
    const res = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: [{ url: 'https://cdn.example.net/hostile.m3u8', protocol: 'hls' }],
        regions: ['poison'],
        probe: 'stream',
        durationS: 120,
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await holding('victim-1');
    await kill9(victim); // the "crash"
    victim = agent('victim-2');
    await holding('victim-2');
    await kill9(victim);
    agent('survivor');
    const sweep = await waitFor(
      'the sweep to get its report',
      async () => {
        const s = (await (await fetch(`${controller.url}/v1/sweeps/${id}`)).json()) as Sweep;
        return s.received > 0 ? s : undefined;
      },
      60_000,
    );
    const report = sweep.reports[0];
    expect(report?.agentId).toBe('survivor');
    expect(report?.outcome).toBe('probe-error');
    expect(report?.reasons[0]).toMatch(/^job-poisoned: delivered 3 times/);
  }, 120_000);
});

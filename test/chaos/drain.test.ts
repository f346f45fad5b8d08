import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/index.js';
import { spawnStandInAgent, waitFor } from '../helpers/fleet.js';
import { startNats, stopProcess, tempDir } from '../helpers/procs.js';
import {
  adHocTargets,
  agentEnv,
  chaosLogger,
  postSweep,
  REGION,
  startTestController,
  sweepDone,
} from './harness.js';
import { getAgents } from './scenarios.js';

/**
 * Drain and stop of real agent processes: through the API (request/reply on the control subject) and by
 * SIGTERM — running jobs finish within the grace period, or are handed back and run elsewhere.
 */
describe('agent drain, stop and graceful SIGTERM', () => {
  const logger = chaosLogger('drain');
  const spool = tempDir('drain-spool');
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  const procs = new Map<string, ChildProcess>();
  const offline: string[] = [];

  const spawnAgent = (id: string, drainGraceS: number) => {
    const child = spawnStandInAgent(
      agentEnv({ servers: [nats.url], id, spoolDir: spool.path, capacity: 1, drainGraceS }),
    );
    procs.set(id, child);
    return child;
  };
  const exited = (child: ChildProcess) =>
    child.exitCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const post = async (path: string) => {
    const res = await fetch(`${controller.url}${path}`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const agentState = async (id: string) => (await getAgents(controller.url)).find((a) => a.agentId === id);

  beforeAll(async () => {
    nats = await startNats();
    controller = await startTestController({ servers: [nats.url], logger, jobAckWaitS: 4 });
    controller.events.on('agent', (e) => e.status === 'offline' && offline.push(e.agentId));
    spawnAgent('drain-a', 10);
    spawnAgent('drain-b', 10);
    await waitFor('two agents online', async () => (await getAgents(controller.url)).length === 2);
  });

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => stopProcess(p, 'SIGKILL')));
    await controller?.stop();
    await nats?.stop();
    spool.remove();
  });

  it('summarises capacity per region', async () => {
    const regions = (await (await fetch(`${controller.url}/v1/agents/regions`)).json()) as unknown[];
    expect(regions).toEqual([
      expect.objectContaining({
        region: REGION,
        agents: { online: 2, offline: 0, draining: 0 },
        capacity: { browser: 2, stream: 2 },
        free: { browser: 2, stream: 2 },
        dropped: 0,
      }),
    ]);
    expect((await post('/v1/agents/nobody/drain')).status).toBe(404);
  });

  it('a drained agent takes no jobs until resumed', async () => {
    const r = await post('/v1/agents/drain-a/drain');
    expect(r).toMatchObject({ status: 200, body: { ok: true, agentId: 'drain-a', draining: true } });
    await waitFor(
      'drain-a to heartbeat draining',
      async () => (await agentState('drain-a'))?.heartbeat.draining,
    );
    const sweep = await postSweep(controller.url, {
      targets: adHocTargets(2),
      probe: 'stream',
      durationS: 1,
    });
    const done = await sweepDone(controller, sweep.id, 60_000);
    expect(done.reports.map((x) => x.agentId)).toEqual(['drain-b', 'drain-b']);
    expect((await post('/v1/agents/drain-a/resume')).body).toMatchObject({ ok: true, draining: false });
  });

  it('SIGTERM lets a running job finish within the grace period, then the agent exits', async () => {
    await post('/v1/agents/drain-b/drain');
    const sweep = await postSweep(controller.url, {
      targets: adHocTargets(1, 'g'),
      probe: 'stream',
      durationS: 3,
    });
    await waitFor('drain-a to run the job', async () => (await agentState('drain-a'))?.heartbeat.jobs.length);
    const a = procs.get('drain-a') as ChildProcess;
    process.kill(a.pid as number, 'SIGTERM');
    expect(await exited(a)).toBe(0);
    const done = await sweepDone(controller, sweep.id, 60_000);
    expect(done.reports.map((x) => x.agentId)).toEqual(['drain-a']);
    await waitFor('drain-a offline', () => offline.includes('drain-a'), 15_000);
  });

  it('SIGTERM past the grace period hands the job back; another agent runs it in full', async () => {
    const c = spawnAgent('drain-c', 1);
    await waitFor('drain-c online', async () => (await agentState('drain-c'))?.status === 'online');
    const sweep = await postSweep(controller.url, {
      targets: adHocTargets(1, 'h'),
      probe: 'stream',
      durationS: 6,
    });
    await waitFor('drain-c to run the job', async () => (await agentState('drain-c'))?.heartbeat.jobs.length);
    process.kill(c.pid as number, 'SIGTERM');
    expect(await exited(c)).toBe(0);
    await post('/v1/agents/drain-b/resume');
    const done = await sweepDone(controller, sweep.id, 60_000);
    expect(done.reports.map((x) => x.agentId)).toEqual(['drain-b']);
    // A full run, not the truncated one drain-c aborted.
    expect(done.reports[0]?.reasons).toEqual([]);
  });

  it('POST /v1/agents/:id/stop stops the agent process', async () => {
    const b = procs.get('drain-b') as ChildProcess;
    const r = await post('/v1/agents/drain-b/stop');
    expect(r).toMatchObject({ status: 200, body: { ok: true, draining: true } });
    expect(await exited(b)).toBe(0);
    await waitFor('drain-b offline', () => offline.includes('drain-b'), 15_000);
    expect((await post('/v1/agents/drain-b/drain')).status).toBe(503);
  });
});

import type { ChildProcess } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Agent } from '../../agent/index.js';
import type { Controller } from '../../controller/index.js';
import { BrowserProber } from '../../probes/browser/index.js';
import type { Report } from '../../shared/schemas.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import { kill9, makeReport, spawnStandInAgent, waitFor } from '../helpers/fleet.js';
import { freePort, startNats, stopProcess, tempDir } from '../helpers/procs.js';
import {
  adHocTargets,
  agentEnv,
  chaosLogger,
  names,
  postSweep,
  REGION,
  recordIngest,
  type ScenarioResult,
  spawnController,
  startStandInAgent,
  startTestController,
  storedReports,
  sweepDone,
  sweepReportIds,
  tally,
  waitForJetStream,
} from './harness.js';

/**
 * The chaos scenarios of the fleet issue, each self-contained (its own nats-server(s), controller, agents;
 * everything stopped by PID at the end). Used by test/chaos/*.test.ts (which assert on the details) and by
 * bench/chaos.ts (which prints the table).
 */

interface AgentView {
  agentId: string;
  status: 'online' | 'offline';
  heartbeat: { jobs: string[]; draining: boolean; browser?: { healthy: boolean; pid?: number } };
}

export async function getAgents(controllerUrl: string): Promise<AgentView[]> {
  return (await (await fetch(`${controllerUrl}/v1/agents`)).json()) as AgentView[];
}

async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${url} to answer`,
    async () => {
      try {
        return (await fetch(url)).ok;
      } catch {
        return false;
      }
    },
    timeoutMs,
    200,
  );
}

/** kill -9 an agent process mid-job: its job is redelivered (ack wait) to the other agent and completes. */
export async function agentKill(): Promise<
  ScenarioResult & { victim: string; survivor: string; reports: Report[]; victimOffline: boolean }
> {
  const logger = chaosLogger('chaos-agent-kill');
  const nats = await startNats();
  const spool = tempDir('chaos-spool');
  const servers = [nats.url];
  let controller: Controller | undefined;
  const procs = new Map<string, ChildProcess>();
  try {
    controller = await startTestController({ servers, logger, jobAckWaitS: 4 });
    const url = controller.url;
    const ingest = recordIngest(controller);
    const offline = new Set<string>();
    controller.events.on('agent', (e) => e.status === 'offline' && offline.add(e.agentId));
    for (const id of ['chaos-a', 'chaos-b']) {
      procs.set(id, spawnStandInAgent(agentEnv({ servers, id, spoolDir: spool.path, capacity: 1 })));
    }
    await waitFor(
      'both agents online',
      async () => (await getAgents(url)).filter((a) => a.status === 'online').length === 2,
    );
    const sweep = await postSweep(url, { targets: adHocTargets(2), probe: 'stream', durationS: 4 });
    const victim = await waitFor(
      'an agent to report a running job',
      async () => (await getAgents(url)).find((a) => a.heartbeat.jobs.length > 0)?.agentId,
    );
    const survivor = victim === 'chaos-a' ? 'chaos-b' : 'chaos-a';
    await kill9(procs.get(victim) as ChildProcess);
    const done = await sweepDone(controller, sweep.id, 90_000);
    await waitFor('the killed agent to be offline', () => offline.has(victim), 30_000);
    const stored = await storedReports(servers);
    const ids = sweepReportIds(sweep.id, sweep.jobs);
    const byAgent = done.reports.map((r) => r.agentId).join(',');
    return {
      ...tally('agent kill -9 mid-job', ids, stored, ingest, [`reports by ${byAgent}; ${victim} killed`]),
      victim,
      survivor,
      reports: done.reports,
      victimOffline: offline.has(victim),
    };
  } finally {
    await Promise.all([...procs.values()].map((p) => stopProcess(p, 'SIGKILL')));
    await controller?.stop();
    await nats.stop();
    spool.remove();
  }
}

/**
 * nats-server restarted mid-sweep (same port, same file store): reports made while it is down wait in the
 * agents' spools and arrive after; every report is stored and ingested exactly once.
 */
export async function natsRestart(): Promise<ScenarioResult & { downMs: number; spooled: number }> {
  const logger = chaosLogger('chaos-nats-restart');
  const port = await freePort();
  const store = tempDir('chaos-nats-store');
  const spool = tempDir('chaos-spool');
  let nats = await startNats({ port, storeDir: store.path });
  const servers = [nats.url];
  let controller: Controller | undefined;
  const agents: Agent[] = [];
  try {
    controller = await startTestController({ servers, logger, jobAckWaitS: 10 });
    const ingest = recordIngest(controller);
    for (const id of ['chaos-a', 'chaos-b']) {
      agents.push(await startStandInAgent({ servers, id, spoolDir: spool.path, logger, capacity: 2 }));
    }
    await waitFor('both agents online', async () => (await getAgents(controller!.url)).length === 2);
    const sweep = await postSweep(controller.url, {
      targets: adHocTargets(8),
      probe: 'stream',
      durationS: 3,
    });
    await waitFor('the first reports to be ingested', () => ingest.size >= 2, 60_000);

    await nats.stop();
    const downAt = Date.now();
    // Stay down until an agent has had to spool a report (the outage path is exercised), at most 25 s.
    await waitFor(
      'an agent to spool a report',
      () => agents.some((a) => a.stats().publisher.spooled > 0),
      25_000,
    ).catch(() => undefined);
    nats = await startNats({ port, storeDir: store.path });
    const downMs = Date.now() - downAt;

    await sweepDone(controller, sweep.id, 120_000);
    await waitFor('the spools to be empty', () => agents.every((a) => a.stats().publisher.spoolDepth === 0));
    const stored = await storedReports(servers);
    const spooled = agents.reduce((n, a) => n + a.stats().publisher.spooled, 0);
    const ids = sweepReportIds(sweep.id, sweep.jobs);
    return {
      ...tally('nats-server restart mid-sweep', ids, stored, ingest, [
        `down ${(downMs / 1000).toFixed(1)} s; ${spooled} report(s) spooled and replayed`,
      ]),
      downMs,
      spooled,
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop({ graceMs: 0 })));
    await controller?.stop();
    await nats.stop();
    store.remove();
    spool.remove();
  }
}

/**
 * `liveprobe controller` killed -9 while reports stream in, then started again: ingest resumes from the
 * durable consumer, and the aggregates rebuilt from the stream count every report exactly once.
 */
export async function controllerKill(
  opts: { targets?: number; perTarget?: number } = {},
): Promise<
  ScenarioResult & { ackFloorAtKill: number; liveAfterRestart: number; skippedAfterRestart: number }
> {
  const nTargets = opts.targets ?? 40;
  const perTarget = opts.perTarget ?? 50;
  const nats = await startNats();
  const servers = [nats.url];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { NATS_URL: nats.url, LIVEPROBE_PORT: String(port), LIVEPROBE_HEARTBEAT_S: '1' };
  let ctl = spawnController(env);
  const nc = await connect({ servers });
  try {
    await waitHttp(`${url}/readyz`);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const ackFloor = async () =>
      (await jsm.consumers.info(names.resultsStream, names.ingestConsumer)).ack_floor.stream_seq;

    const ids: string[] = [];
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await Promise.all(
          Array.from({ length: nTargets }, (_, t) => {
            const r = makeReport({ jobId: `ck.${i}.${t}`, region: REGION, targetId: `tgt${t}` });
            ids.push(r.id);
            return js.publish(names.results(REGION, r.agentId, r.target.id), JSON.stringify(r), {
              msgID: r.id,
            });
          }),
        );
        // Pace the load so the kill lands while reports are still arriving.
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const total = nTargets * perTarget;
    const half = Math.floor(perTarget / 2);
    // First half: the controller is killed once a quarter of everything is acked; the rest of the half
    // lands in the stream while it is down.
    const firstHalf = publish(0, half);
    const ackFloorAtKill = await waitFor('ingest to be under way', async () => {
      const f = await ackFloor();
      return f >= total / 4 ? f : 0;
    });
    await kill9(ctl);
    await firstHalf;

    ctl = spawnController(env);
    await waitHttp(`${url}/readyz`);
    // Second half: published after the restart, counted by live ingest.
    await publish(half, perTarget);
    await waitFor(
      'ingest to resume and ack everything',
      async () => {
        const c = await jsm.consumers.info(names.resultsStream, names.ingestConsumer);
        return c.num_pending === 0 && c.num_ack_pending === 0 && c.ack_floor.stream_seq >= total;
      },
      90_000,
      250,
    );
    // What the controller counted, per target, after the crash: its windows rebuilt from the stream plus
    // live ingest (redelivered reports must not count twice).
    const counts = await waitFor(
      'every target in the summary',
      async () => {
        const res = await fetch(`${url}/v1/summary?window=1h&groupBy=target`);
        const body = (await res.json()) as { groups: { key: string; count: number }[] };
        const m = new Map(body.groups.map((g) => [g.key, g.count]));
        return m.size >= nTargets ? m : undefined;
      },
      15_000,
      500,
    );
    const stored = await storedReports(servers);
    let lost = 0;
    let extra = 0;
    let ingested = 0;
    for (let t = 0; t < nTargets; t++) {
      const c = counts.get(`tgt${t}`) ?? 0;
      ingested += Math.min(c, perTarget);
      lost += Math.max(0, perTarget - c);
      extra += Math.max(0, c - perTarget);
    }
    const storedExtra = [...stored.values()].reduce((n, c) => n + c - 1, 0);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
    const live = metric('liveprobe_ingest_reports_total');
    const skipped = metric('liveprobe_ingest_redelivered_total');
    return {
      scenario: 'controller kill -9 mid-ingest',
      expected: total,
      published: ids.filter((id) => stored.has(id)).length,
      ingested,
      duplicated: extra + storedExtra,
      lost,
      notes: [
        `killed at ack floor ${ackFloorAtKill}/${total}; after restart: ${live} ingested live, ${skipped} already counted (replayed) and skipped; counts from /v1/summary`,
      ],
      ackFloorAtKill,
      liveAfterRestart: live,
      skippedAfterRestart: skipped,
    };
  } finally {
    await nc.close();
    await stopProcess(ctl, 'SIGKILL');
    await nats.stop();
  }
}

/**
 * The Chromium of a browser session is killed -9: that session's report is probe-error (our fault, not the
 * stream's), and the same agent serves the next sweep with a relaunched browser.
 */
export async function chromiumKill(): Promise<
  ScenarioResult & {
    first: Report;
    second: Report;
    killedPid: number;
    newPid?: number;
    heartbeatBrowser: { healthy: boolean; pid?: number };
  }
> {
  const logger = chaosLogger('chaos-chromium-kill');
  const nats = await startNats();
  const servers = [nats.url];
  const spool = tempDir('chaos-spool');
  let controller: Controller | undefined;
  let agent: Agent | undefined;
  let testbed: Testbed | undefined;
  const prober = new BrowserProber({ logger });
  try {
    testbed = await startTestbed({ port: 0, ladder: 'single', logger });
    const stream = testbed.streams.find((s) => s.protocol === 'hls');
    if (!stream) throw new Error('testbed has no HLS stream');
    controller = await startTestController({ servers, logger });
    const ingest = recordIngest(controller);
    agent = await startStandInAgent({
      servers,
      id: 'chaos-browser',
      spoolDir: spool.path,
      logger,
      capacity: 1,
      probers: { browser: prober },
    });
    await waitFor('the agent online', async () => (await getAgents(controller!.url)).length === 1);
    const target = { id: 'testbed', url: stream.url, protocol: 'hls' as const };

    const s1 = await postSweep(controller.url, { targets: [target], probe: 'browser', durationS: 12 });
    const killedPid = await waitFor('a browser session to run', () => {
      const h = prober.health();
      return h.sessions > 0 && h.pid ? h.pid : undefined;
    });
    process.kill(killedPid, 'SIGKILL');
    const first = (await sweepDone(controller, s1.id, 90_000)).reports[0] as Report;

    const s2 = await postSweep(controller.url, { targets: [target], probe: 'browser', durationS: 8 });
    const second = (await sweepDone(controller, s2.id, 90_000)).reports[0] as Report;
    const newPid = prober.health().pid;
    // The heartbeat carries the browser's health: the relaunched Chromium, healthy.
    const heartbeatBrowser = await waitFor('the heartbeat to show the relaunched browser', async () => {
      const b = (await getAgents(controller!.url))[0]?.heartbeat.browser;
      return b?.healthy && b.pid === newPid ? b : undefined;
    });
    const stored = await storedReports(servers);
    const ids = [...sweepReportIds(s1.id, s1.jobs), ...sweepReportIds(s2.id, s2.jobs)];
    return {
      ...tally('Chromium killed mid-session', ids, stored, ingest, [
        `session 1: ${first?.outcome}; session 2: ${second?.outcome} (pid ${killedPid} -> ${newPid})`,
      ]),
      first,
      second,
      killedPid,
      newPid,
      heartbeatBrowser,
    };
  } finally {
    await agent?.stop({ graceMs: 0 });
    await controller?.stop();
    await testbed?.stop();
    await nats.stop();
    spool.remove();
  }
}

/**
 * A 3-node NATS cluster on loopback with R3 streams; the node leading the results stream is killed -9
 * mid-sweep. Clients fail over, JetStream elects a new leader, and the sweep completes exactly once.
 */
export async function clusterNodeKill(): Promise<ScenarioResult & { killed: string }> {
  const { startNatsCluster } = await import('../../cli/children.js');
  const logger = chaosLogger('chaos-cluster');
  const dirs = [tempDir('chaos-n1'), tempDir('chaos-n2'), tempDir('chaos-n3')];
  const spool = tempDir('chaos-spool');
  const ports = [await freePort(), await freePort(), await freePort()];
  const clusterPorts = [await freePort(), await freePort(), await freePort()];
  const cluster = await startNatsCluster({
    ports,
    clusterPorts,
    storeDirs: dirs.map((d) => d.path),
    name: 'chaos',
  });
  const servers = cluster.urls;
  let controller: Controller | undefined;
  const agents: Agent[] = [];
  try {
    await waitForJetStream(servers);
    controller = await startTestController({ servers, logger, replicas: 3, jobAckWaitS: 10 });
    const ingest = recordIngest(controller);
    for (const id of ['chaos-a', 'chaos-b']) {
      agents.push(await startStandInAgent({ servers, id, spoolDir: spool.path, logger, capacity: 2 }));
    }
    await waitFor('both agents online', async () => (await getAgents(controller!.url)).length === 2);
    const sweep = await postSweep(controller.url, {
      targets: adHocTargets(8),
      probe: 'stream',
      durationS: 3,
    });
    await waitFor('the first reports to be ingested', () => ingest.size >= 2, 60_000);

    const nc = await connect({ servers });
    let leader: string | undefined;
    try {
      const info = await (await jetstreamManager(nc)).streams.info(names.resultsStream);
      leader = info.cluster?.leader;
    } finally {
      await nc.close();
    }
    const victim =
      cluster.nodes.find((n) => n.name === leader) ?? (cluster.nodes[0] as (typeof cluster.nodes)[0]);
    await victim.stop('SIGKILL');
    const killedAt = Date.now();

    await sweepDone(controller, sweep.id, 120_000);
    const doneS = ((Date.now() - killedAt) / 1000).toFixed(1);
    await waitFor('the spools to be empty', () => agents.every((a) => a.stats().publisher.spoolDepth === 0));
    const t0 = Date.now();
    const stored = await storedReports(servers.filter((u) => u !== victim.url));
    const readS = ((Date.now() - t0) / 1000).toFixed(1);
    const ids = sweepReportIds(sweep.id, sweep.jobs);
    return {
      ...tally('3-node cluster, results-stream leader killed', ids, stored, ingest, [
        `killed ${victim.name} (leader of ${names.resultsStream}); sweep done ${doneS} s later; stream read in ${readS} s`,
      ]),
      killed: victim.name,
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop({ graceMs: 0 })));
    await controller?.stop();
    await cluster.stop('SIGKILL');
    for (const d of [...dirs, spool]) d.remove();
  }
}

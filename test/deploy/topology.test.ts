import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../../agent/index.js';
import { type Controller, startController } from '../../controller/index.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { makeReport, waitFor } from '../helpers/fleet.js';
import { freePort, tempDir } from '../helpers/procs.js';
import {
  adminConnect,
  names,
  PASS,
  REGIONS,
  type Region,
  startTopology,
  storedIds,
  TickingProber,
  type Topology,
} from './topology.js';

/**
 * The deploy/nats topology with real nats-server processes: a 3-node hub cluster (JetStream domain hub,
 * R3 streams and KV) and one leaf node per region (own JetStream domain, a results stream the hub sources).
 * The controller is on the hub; one agent per region is on its leaf, with the credentials of the leaf
 * config. Proves: a sweep over both regions completes; a region whose leaf link is cut for 60 s while a watch
 * runs keeps probing, and every report reaches the controller exactly once after the link returns; a hub
 * node killed -9 loses nothing.
 */
const CUT_MS = Number(process.env.LIVEPROBE_TOPOLOGY_CUT_MS ?? 60_000);
const logger = createLogger('topology', process.env.TOPOLOGY_LOG_LEVEL ?? 'silent');

describe('deploy/nats topology: hub cluster of 3 + two leaf regions', () => {
  let topo: Topology;
  let controller: Controller;
  let admin: NatsConnection;
  const agents: Agent[] = [];
  const spool = tempDir('lp-topology-spool');
  const ingested = new Map<string, number>();
  const reports = new Map<string, Report>();
  const api = (path: string, init?: RequestInit) =>
    fetch(`${controller.url}${path}`, {
      ...init,
      headers: init?.body ? { 'content-type': 'application/json' } : {},
    });
  const ids = (region: Region, pred: (r: Report) => boolean = () => true) =>
    [...reports.values()].filter((r) => r.region === region && pred(r)).map((r) => r.id);

  beforeAll(async () => {
    topo = await startTopology();
    admin = await adminConnect(topo.hubUrls);
    const config = loadConfig({
      env: {},
      overrides: {
        'nats.url': topo.hubUrls.join(','),
        'nats.user': 'controller',
        'nats.pass': PASS.controller,
        'nats.replicas': 3,
        'nats.leafRegions': [...REGIONS],
        // Longer than the cut: the running watch job is not redelivered while its working() acks are lost.
        'nats.jobAckWaitS': 120,
        'controller.port': await freePort(),
        'controller.rebuildWindowS': 0,
        // The stand-in targets live on loopback, which the default egress policy refuses.
        'egress.allow': LOOPBACK_RULES,
        'agent.heartbeatS': 1,
      },
    });
    controller = await startController({ config, logger });
    controller.events.on('report', (r: Report) => {
      ingested.set(r.id, (ingested.get(r.id) ?? 0) + 1);
      reports.set(r.id, r);
    });
    for (const region of REGIONS) {
      const agentConfig = loadConfig({
        env: {},
        overrides: {
          'nats.url': topo.leafs[region].url,
          'nats.user': `agent-${region}-1`,
          'nats.pass': PASS.agent(region, 1),
          'nats.domain': 'hub',
          'agent.id': `agent-${region}-1`,
          'agent.region': region,
          'agent.heartbeatS': 1,
          'agent.spoolDir': spool.path,
          'agent.capacity.stream': 4,
          'agent.capacity.browser': 1,
          'egress.allow': LOOPBACK_RULES,
        },
      });
      agents.push(
        await startAgent({
          config: agentConfig,
          logger,
          probers: { stream: new TickingProber('stream'), browser: new TickingProber('browser') },
        }),
      );
    }
    // The controller creates each leaf's results stream through the link, in the leaf's domain.
    for (const region of REGIONS) {
      const jsm = await jetstreamManager(admin, { domain: region, checkAPI: false });
      await waitFor(
        `the ${region} leaf results stream`,
        () =>
          jsm.streams.info(names.resultsStream).then(
            (i) => i.config.subjects?.[0] === `liveprobe.results.${region}.>`,
            () => false,
          ),
        60_000,
        250,
      );
    }
    await waitFor(
      'both agents online',
      async () => ((await (await api('/v1/agents')).json()) as unknown[]).length === 2,
      60_000,
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop({ graceMs: 0 })));
    await controller?.stop();
    await admin?.close();
    await topo?.stop();
    spool.remove();
  });

  it('runs a sweep over both regions through the leafs: each report stored once on its leaf and the hub', async () => {
    const res = await api('/v1/sweeps', {
      method: 'POST',
      body: JSON.stringify({
        targets: [0, 1, 2].map((i) => ({
          id: `t${i}`,
          url: `http://127.0.0.1:9/t${i}.m3u8`,
          protocol: 'hls',
        })),
        regions: [...REGIONS],
        probe: 'stream',
        durationS: 1,
      }),
    });
    expect(res.status).toBe(202);
    const sweep = (await res.json()) as { id: string; jobs: number };
    expect(sweep.jobs).toBe(6);
    await waitFor(
      'the sweep to be done',
      () => controller.sweeps.get(sweep.id)?.state === 'done',
      120_000,
      200,
    );
    const mine = [...reports.values()].filter((r) => r.sweepId === sweep.id);
    expect(mine.map((r) => r.region).sort()).toEqual([
      'eu-west',
      'eu-west',
      'eu-west',
      'us-east',
      'us-east',
      'us-east',
    ]);
    const hub = await storedIds(admin);
    for (const region of REGIONS) {
      const leaf = await storedIds(admin, region);
      for (const r of mine.filter((x) => x.region === region)) {
        expect(leaf.get(r.id), `${r.id} on the ${region} leaf`).toBe(1);
        expect(hub.get(r.id), `${r.id} on the hub`).toBe(1);
        expect(ingested.get(r.id), `${r.id} ingested`).toBe(1);
      }
    }
  }, 180_000);

  it('a report crosses the link only through the sourced stream (no Nats-Msg-Id to hide a second copy)', async () => {
    const leafAdmin = await connect({ servers: topo.leafs['eu-west'].url, user: 'admin', pass: PASS.admin });
    try {
      const report = makeReport({
        jobId: 'no-msg-id',
        region: 'eu-west',
        targetId: 'x',
        agentId: 'agent-eu-west-1',
      });
      const ack = await jetstream(leafAdmin).publish(
        names.results('eu-west', 'agent-eu-west-1', 'x'),
        JSON.stringify(report),
      );
      expect(ack.domain).toBe('eu-west');
      await waitFor('the report to be ingested', () => ingested.has(report.id), 60_000);
      const hub = await storedIds(admin);
      expect(hub.get(report.id)).toBe(1);
      expect(ingested.get(report.id)).toBe(1);
    } finally {
      await leafAdmin.close();
    }
  }, 120_000);

  it('a region cut off from the hub for 60 s keeps probing; every report arrives once after the link returns', async () => {
    const created = await api('/v1/watches', {
      method: 'POST',
      body: JSON.stringify({
        id: 'cut',
        target: { id: 'live', url: 'http://127.0.0.1:9/live.m3u8', protocol: 'hls' },
        regions: [...REGIONS],
        probe: 'stream',
        intervalS: 2,
        // One chunk outlasts the cut: the region keeps its running job while it cannot pull a new one.
        chunkS: 300,
      }),
    });
    expect(created.status).toBe(201);
    const isWatch = (r: Report) => r.jobId.startsWith('watch-cut-') && r.seq > 0;
    await waitFor(
      'interval reports from both regions',
      () => REGIONS.every((r) => ids(r, isWatch).length >= 2),
      60_000,
    );

    const leafJsm = await jetstreamManager(admin, { domain: 'us-east', checkAPI: false });
    const before = (await leafJsm.streams.info(names.resultsStream)).state.messages;
    await topo.cut('us-east');
    const cutAt = Date.now();
    const ingestedAtCut = ids('us-east', isWatch).length;
    // The leaf keeps acking the agent's reports while the hub cannot see it; the other region is untouched.
    const euAtCut = ids('eu-west', isWatch).length;
    await waitFor(
      'eu-west reports during the cut',
      () => ids('eu-west', isWatch).length >= euAtCut + 5,
      60_000,
    );
    await new Promise((r) => setTimeout(r, Math.max(0, CUT_MS - (Date.now() - cutAt))));
    const duringCut = ids('us-east', isWatch).length - ingestedAtCut;
    const usAgent = agents.find((a) => a.region === 'us-east') as Agent;
    const spooled = usAgent.stats().publisher.spooled;
    await topo.heal('us-east');
    const healedAt = Date.now();

    // After the link returns the hub's source catches up from the leaf's next sequence.
    const leafAfter = await waitFor(
      'the us-east leaf to be reachable again',
      () => storedIds(admin, 'us-east').catch(() => undefined),
      60_000,
      500,
    );
    const grownOnLeaf = [...leafAfter.keys()].length - before;
    await waitFor(
      'every us-east report on the leaf to reach the controller',
      () => [...leafAfter.keys()].every((id) => ingested.has(id)),
      120_000,
      250,
    );
    const caughtUpS = (Date.now() - healedAt) / 1000;
    const hub = await storedIds(admin);
    for (const id of leafAfter.keys()) {
      expect(leafAfter.get(id), `${id} on the leaf`).toBe(1);
      expect(hub.get(id), `${id} on the hub`).toBe(1);
      expect(ingested.get(id), `${id} ingested`).toBe(1);
    }
    // It kept probing: the leaf stored a report per interval through the cut; the agent needed no spool.
    expect(grownOnLeaf).toBeGreaterThanOrEqual(Math.floor(CUT_MS / 2000 / 2));
    expect(spooled).toBe(0);
    console.log(
      `[topology] us-east cut ${(CUT_MS / 1000).toFixed(0)} s: ${grownOnLeaf} reports stored on the leaf meanwhile, ` +
        `${duringCut} reached the controller during the cut, all ${leafAfter.size} ingested once ${caughtUpS.toFixed(1)} s after the link returned`,
    );
  }, 300_000);

  it('loses nothing when a hub node is killed', async () => {
    const isWatch = (r: Report) => r.jobId.startsWith('watch-cut-') && r.seq > 0;
    const jsm = await jetstreamManager(admin, { checkAPI: false });
    const leader = (await jsm.streams.info(names.resultsStream)).cluster?.leader;
    const victim = topo.hub.find((n) => n.name === leader) ?? (topo.hub[0] as Topology['hub'][number]);
    await victim.stop('SIGKILL');
    const killedAt = Date.now();
    const survivors = topo.hubUrls.filter((u) => u !== victim.url);
    const atKill = REGIONS.map((r) => ids(r, isWatch).length);
    await waitFor(
      'new interval reports from both regions after the kill',
      () => REGIONS.every((r, i) => ids(r, isWatch).length >= (atKill[i] as number) + 3),
      120_000,
      250,
    );
    const flowingS = (Date.now() - killedAt) / 1000;
    expect((await api('/v1/watches/cut', { method: 'DELETE' })).status).toBe(204);
    const nc = await adminConnect(survivors);
    try {
      const hub = await storedIds(nc);
      for (const region of REGIONS) {
        const leaf = await storedIds(nc, region);
        await waitFor(
          `every ${region} report on its leaf to reach the controller`,
          () => [...leaf.keys()].every((id) => ingested.has(id)),
          120_000,
          250,
        );
        for (const id of leaf.keys()) {
          expect(leaf.get(id), `${id} on the leaf`).toBe(1);
          expect(ingested.get(id), `${id} ingested`).toBe(1);
          if (hub.has(id)) expect(hub.get(id), `${id} on the hub`).toBe(1);
        }
      }
      const again = await storedIds(nc);
      for (const [id, n] of again) expect(n, `${id} on the hub`).toBe(1);
      expect([...ingested.values()].every((n) => n === 1)).toBe(true);
      console.log(
        `[topology] ${victim.name} (leader of ${names.resultsStream}) killed: 3 more reports from each region ` +
          `${flowingS.toFixed(1)} s later; ${again.size} reports on the hub, each once; ${ingested.size} ingested, each once`,
      );
    } finally {
      await nc.close();
    }
  }, 300_000);
});

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type NatsChild, startNatsServer } from '../../cli/children.js';
import type { ProbeContext, ProbeJob, Prober } from '../../probes/types.js';
import type { ProbeKind, ProbeResult } from '../../shared/schemas.js';
import { names as subjectNames } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { waitFor } from '../helpers/fleet.js';
import { freePort, tempDir } from '../helpers/procs.js';

/**
 * The deploy/nats topology on loopback, with the EXACT hub.conf and leaf-<region>.conf of deploy/nats: each
 * server gets a directory holding a byte copy of its config file beside a test-written *.vars.conf (ports,
 * store, routes, passwords) — the one file a deployment replaces too.
 *
 * The leafs reach the hub through one TCP front (the role a load balancer or a DNS name for all hub nodes
 * plays in a deployment: every hub node advertises it, LP_LEAF_ADVERTISE). The front reads the leaf user from
 * each link's CONNECT line, so it can cut one region's link — drop it and refuse its reconnects — and let it
 * back, while the other region stays linked.
 */
export class LeafFront {
  private server: Server | undefined;
  private readonly links = new Map<Socket, { region: string; peer: Socket }>();
  private readonly cutOff = new Set<string>();
  private next = 0;
  port = 0;
  constructor(private readonly upstreams: number[]) {}

  async start(port: number): Promise<void> {
    this.port = port;
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
  }

  /** Links currently open per region. */
  linked(region: string): number {
    return [...this.links.values()].filter((l) => l.region === region).length;
  }

  cut(region: string): void {
    this.cutOff.add(region);
    for (const [client, l] of this.links) {
      if (l.region !== region) continue;
      client.destroy();
      l.peer.destroy();
    }
  }

  heal(region: string): void {
    this.cutOff.delete(region);
  }

  async stop(): Promise<void> {
    for (const [client, l] of this.links) {
      client.destroy();
      l.peer.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Dials the hub nodes in turn from the next one on, skipping a dead node. */
  private dial(attempt = 0): Promise<Socket> {
    const port = this.upstreams[(this.next + attempt) % this.upstreams.length] as number;
    return new Promise((resolve, reject) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', (err) =>
        attempt + 1 < this.upstreams.length ? resolve(this.dial(attempt + 1)) : reject(err),
      );
    });
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    client.pause();
    this.next = (this.next + 1) % this.upstreams.length;
    this.dial().then(
      (upstream) => {
        upstream.on('error', () => undefined);
        upstream.pipe(client);
        const close = () => {
          this.links.delete(client);
          client.destroy();
          upstream.destroy();
        };
        client.on('close', close);
        upstream.on('close', close);
        // The server speaks first (INFO); the leaf answers CONNECT {"user":"leaf-<region>",...}.
        let head = '';
        const sniff = (chunk: Buffer) => {
          head += chunk.toString('latin1');
          const user = /"user":"leaf-([^"]+)"/.exec(head)?.[1];
          if (!user && head.length < 16_384 && !head.includes('\r\n')) return;
          client.off('data', sniff);
          const region = user ?? '?';
          if (this.cutOff.has(region)) {
            close();
            return;
          }
          this.links.set(client, { region, peer: upstream });
          upstream.write(head);
          client.pipe(upstream);
        };
        client.on('data', sniff);
        client.resume();
      },
      () => client.destroy(),
    );
  }
}

export const REGIONS = ['eu-west', 'us-east'] as const;
export type Region = (typeof REGIONS)[number];
export const names = subjectNames('liveprobe');
const DEPLOY_NATS = join(import.meta.dirname, '..', '..', 'deploy', 'nats');

export const PASS = {
  controller: 'test-controller-pass',
  admin: 'test-admin-pass',
  leaf: (r: string) => `test-leaf-${r}-pass`,
  agent: (r: string, n: number) => `test-agent-${r}-${n}-pass`,
};

export interface HubNode {
  name: string;
  port: number;
  url: string;
  leafPort: number;
  server: NatsChild;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface Topology {
  hub: HubNode[];
  hubUrls: string[];
  leafs: Record<Region, NatsChild>;
  front: LeafFront;
  /** Drops the region's leaf link and refuses its reconnects until heal(). */
  cut(region: Region): Promise<void>;
  heal(region: Region): Promise<void>;
  stop(): Promise<void>;
}

function vars(entries: Record<string, string | number | string[]>): string {
  return Object.entries(entries)
    .map(([k, v]) =>
      Array.isArray(v)
        ? `${k}: [${v.map((s) => JSON.stringify(s)).join(', ')}]`
        : `${k}: ${JSON.stringify(v)}`,
    )
    .join('\n');
}

/**
 * Fifteen ports are picked before the first server binds them; on a busy machine another test's server can
 * take one in between (seen in CI: the hub's leafnode port). Start again on fresh ports then, a bounded number of times.
 */
export async function startTopology(attempts = 3): Promise<Topology> {
  for (let i = 1; ; i++) {
    try {
      return await startTopologyOnce();
    } catch (err) {
      if (i >= attempts || !/address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startTopologyOnce(): Promise<Topology> {
  const root = tempDir('lp-topology');
  const hubPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const clusterPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const leafPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`);
  const started: Array<{ stop(signal?: NodeJS.Signals): Promise<void> }> = [];
  const monitorPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const frontPort = await freePort();
  const front = new LeafFront(leafPorts);
  const hubVars = (i: number, dir: string) =>
    vars({
      LP_CLIENT_PORT: hubPorts[i] as number,
      LP_MONITOR_LISTEN: `127.0.0.1:${monitorPorts[i]}`,
      LP_STORE_DIR: join(dir, 'store'),
      LP_CLUSTER_LISTEN: `127.0.0.1:${clusterPorts[i]}`,
      LP_ROUTES: routes,
      LP_LEAF_PORT: leafPorts[i] as number,
      LP_CONTROLLER_PASS: PASS.controller,
      LP_ADMIN_PASS: PASS.admin,
      LP_LEAF_ADVERTISE: `127.0.0.1:${frontPort}`,
      LP_LEAF_EU_WEST_PASS: PASS.leaf('eu-west'),
      LP_LEAF_US_EAST_PASS: PASS.leaf('us-east'),
    });
  const hubDir = (i: number) => join(root.path, `hub-${i + 1}`);
  try {
    await front.start(frontPort);
    const hub = await Promise.all(
      [0, 1, 2].map(async (i): Promise<HubNode> => {
        const name = `hub-${i + 1}`;
        const dir = hubDir(i);
        mkdirSync(dir);
        copyFileSync(join(DEPLOY_NATS, 'hub.conf'), join(dir, 'hub.conf'));
        writeFileSync(join(dir, 'hub.vars.conf'), hubVars(i, dir));
        const server = await startNatsServer({
          port: hubPorts[i] as number,
          storeDir: join(dir, 'store'),
          configFile: join(dir, 'hub.conf'),
          extraArgs: ['--name', name],
        });
        started.push(server);
        return {
          name,
          port: server.port,
          url: server.url,
          leafPort: leafPorts[i] as number,
          server,
          stop: (signal) => server.stop(signal),
        };
      }),
    );
    const leafs = {} as Record<Region, NatsChild>;
    for (const region of REGIONS) {
      const dir = join(root.path, `leaf-${region}`);
      mkdirSync(dir);
      copyFileSync(join(DEPLOY_NATS, `leaf-${region}.conf`), join(dir, `leaf-${region}.conf`));
      const port = await freePort();
      writeFileSync(
        join(dir, `leaf-${region}.vars.conf`),
        vars({
          LP_CLIENT_PORT: port,
          LP_MONITOR_LISTEN: `127.0.0.1:${await freePort()}`,
          LP_STORE_DIR: join(dir, 'store'),
          LP_HUB_URLS: [`nats://leaf-${region}:${PASS.leaf(region)}@127.0.0.1:${frontPort}`],
          LP_AGENT_1_PASS: PASS.agent(region, 1),
          LP_AGENT_2_PASS: PASS.agent(region, 2),
          LP_ADMIN_PASS: PASS.admin,
        }),
      );
      const leaf = await startNatsServer({
        port,
        storeDir: join(dir, 'store'),
        configFile: join(dir, `leaf-${region}.conf`),
        extraArgs: ['--name', `leaf-${region}`],
      });
      started.push(leaf);
      leafs[region] = leaf;
    }
    const hubUrls = hub.map((n) => n.url);
    await waitForHubJetStream(hubUrls);
    return {
      hub,
      hubUrls,
      leafs,
      front,
      async cut(region) {
        front.cut(region);
      },
      async heal(region) {
        front.heal(region);
        await waitFor(`the ${region} leaf link to return`, () => front.linked(region) > 0, 60_000, 100);
      },
      async stop() {
        await front.stop();
        for (const s of started.reverse()) await s.stop('SIGKILL');
        root.remove();
      },
    };
  } catch (err) {
    await front.stop();
    for (const s of started.reverse()) await s.stop('SIGKILL');
    root.remove();
    throw err;
  }
}

export const adminConnect = (servers: string[]): Promise<NatsConnection> =>
  connect({ servers, user: 'admin', pass: PASS.admin, maxReconnectAttempts: -1 });

/** The cluster answers JetStream API calls once its meta leader is elected. */
async function waitForHubJetStream(servers: string[]): Promise<void> {
  const nc = await adminConnect(servers);
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await waitFor(
      'the hub cluster to elect a JetStream meta leader',
      () =>
        jsm.getAccountInfo().then(
          () => true,
          () => false,
        ),
      60_000,
      250,
    );
  } finally {
    await nc.close();
  }
}

/**
 * Report ids stored in a results stream, counted (duplicates included): the hub's (domain undefined) or a
 * leaf's (domain = region; read through the link). Retried: a stream may be electing a leader.
 */
export async function storedIds(nc: NatsConnection, domain?: string): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc, domain ? { domain, checkAPI: false } : { checkAPI: false });
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= 40) throw new Error(`${what}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const { first_seq, last_seq, messages } = (
    await retry('stream info', () => jsm.streams.info(names.resultsStream))
  ).state;
  const out = new Map<string, number>();
  if (messages === 0) return out;
  for (let seq = first_seq; seq <= last_seq; seq += 50) {
    const batch = Array.from({ length: Math.min(50, last_seq - seq + 1) }, (_, i) => seq + i);
    const msgs = await Promise.all(
      batch.map((s) => retry(`message ${s}`, () => jsm.streams.getMessage(names.resultsStream, { seq: s }))),
    );
    for (const m of msgs) {
      if (!m) continue;
      const { id } = decodeJson(m.data) as { id: string };
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * A prober for the fleet path: a check returns after durationS; a watch emits an interval result every
 * intervalS until its duration passes or it is aborted. It fetches nothing — what the topology test
 * exercises is where reports go, not playback.
 */
export class TickingProber implements Prober {
  constructor(readonly kind: ProbeKind) {}

  async run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult> {
    const startedAt = new Date();
    const result = (from: Date): ProbeResult => ({
      target: job.target,
      probe: this.kind,
      mode: job.mode ?? 'check',
      startedAt: from.toISOString(),
      endedAt: new Date().toISOString(),
      outcome: 'ok',
      reasons: [],
      metrics: { startup_ms: 100, segments_total: 1 },
      segments: [],
      errors: [],
      findings: [],
    });
    const every = job.mode === 'watch' ? (job.intervalS ?? 10) * 1000 : job.durationS * 1000;
    const until = startedAt.getTime() + job.durationS * 1000;
    let from = startedAt;
    while (!ctx.signal.aborted && Date.now() < until) {
      const wait = Math.min(every, until - Date.now());
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          ctx.signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, wait);
        ctx.signal.addEventListener('abort', done, { once: true });
      });
      if (job.mode === 'watch' && !ctx.signal.aborted && Date.now() < until) {
        ctx.onInterval?.(result(from));
        from = new Date();
      }
    }
    return result(startedAt);
  }

  async close(): Promise<void> {}
}

/**
 * npm run bench:scale — the controller scaled out: real nats-server, real controller processes, stand-in
 * agent processes (bench/scale-agent.ts) for a fleet of REGIONS x TARGETS series publishing realistic
 * reports through the agents' publisher. Runs 1, 2 and 3 controller replicas in turn, each phase on its
 * own subject prefix (fresh streams, consumers and buckets). One replica runs as deployed alone (one shared
 * ingest consumer); several run partitioned (docs/operations/scale-out.md): BENCH_SCALE_PARTITIONS
 * partitions by the nats-server's subject mapping, leased among the replicas, answers merged over NATS.
 *
 *  1. the k controllers start and settle: partitioned, every partition leased, evenly, stable for a second;
 *  2. priming, the burst: the replicas are held (SIGSTOP, see HELD), the stand-in agents publish three passes
 *     of one report per target x region (the full cardinality) as fast as JetStream takes them, then keep
 *     publishing at the live rate (BENCH_SCALE_RATE reports/s, round-robin), and the replicas are released
 *     together. Ingest per CPU-second = reports acked by the ingest consumer(s) / CPU seconds the
 *     controller processes used (user + system from /proc/<pid>/stat), per replica, per core, measured over
 *     the later passes, once every series exists (the fleet's steady state; PRIMING_PASSES). The first
 *     pass's figure, where each report opens its series, is shown beside it. (The replicas must be up
 *     and settled first: with the burst published before they start, the first replica up ingested it
 *     alone. docs/benchmarks.md);
 *  3. scaling efficiency = (Σ over replicas of reports per CPU-second with k replicas) / (k x the one-replica
 *     figure): what k cores of replicas carry compared with k separate single replicas. 1.0 = no cost of
 *     being several (a replica re-reading every report, coordination, merging);
 *  4. /v1/summary p50/p99 at full cardinality, sequential requests spread over the replicas and over four
 *     query shapes (each shape warmed up once per replica, not sampled: a dashboard polls the same shapes);
 *  5. series: distinct target x region series the replicas hold (union of their /v1/summary answers);
 *  6. time to detect under load: a stream report with a playlist-stale finding is published for one target
 *     in two regions while the fleet publishes at the live rate; time until `/v1/events` of replica 1 says
 *     the shipped rule playlist-stale fires for it. p95 over BENCH_SCALE_INJECTIONS injections a phase.
 *
 *   BENCH_SCALE_REGIONS (100) BENCH_SCALE_TARGETS (1000) BENCH_SCALE_RATE (1000) BENCH_SCALE_INJECTIONS (6)
 *   BENCH_SCALE_REPLICAS (1,2,3) BENCH_SCALE_PARTITIONS (16; used when replicas > 1, or always with
 *   BENCH_SCALE_PARTITION_ALL=1) BENCH_SCALE_HELD=0 (replicas ingest while the agents publish) BENCH_SCALE_TRACE=1 (stderr, once a second while draining: reports acked
 *   per replica, the ingest consumers' pending / ack pending / waiting pulls, nats-server and controller CPU)
 *
 * Last line: ingest_per_cpu_s=<n> scaling_efficiency=<x> summary_p99_ms=<n> ttd_under_load_p95_ms=<n> series=<n>
 * (ingest: the one-replica phase; efficiency: the lowest over the multi-replica phases; summary and time to
 * detect: the worst phase; series: the lowest phase).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import Table from 'cli-table3';
import { JetStreamPublisher } from '../agent/publisher.js';
import { startNatsServer, stopChild } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';
import { createLogger } from '../shared/log.js';
import { type Names, names as subjectNames } from '../shared/subjects.js';
import { cpuSeconds, percentile, startControllerProcess } from './lib.js';
import { fleetReport, regionName, targetName } from './report-fixture.js';

const AGENT = fileURLToPath(new URL('./scale-agent.js', import.meta.url));
const REGIONS = Number(process.env.BENCH_SCALE_REGIONS ?? 100);
const TARGETS = Number(process.env.BENCH_SCALE_TARGETS ?? 1000);
const RATE = Number(process.env.BENCH_SCALE_RATE ?? 1000);
const INJECTIONS = Number(process.env.BENCH_SCALE_INJECTIONS ?? 6);
const REPLICAS = (process.env.BENCH_SCALE_REPLICAS ?? '1,2,3').split(',').map(Number);
const PARTITIONS = Number(process.env.BENCH_SCALE_PARTITIONS ?? 16);
const PARTITION_ALL = process.env.BENCH_SCALE_PARTITION_ALL === '1';
const TRACE = process.env.BENCH_SCALE_TRACE === '1';
/**
 * Hold the replicas (SIGSTOP) while the agents publish the burst, then release them together (SIGCONT):
 * each replica then drains its share of a backlog, busy, as a deployment at capacity is. Without it
 * (BENCH_SCALE_HELD=0) the replicas ingest while the agents publish: on 2 cores the agents and nats-server
 * are the bottleneck, each of 3 replicas sits at ~15 % of a core, and its CPU per report includes what an
 * idle event loop costs per wake-up (small reads, timers, evaluation credit spent per second, not per report).
 */
const HELD = process.env.BENCH_SCALE_HELD !== '0';
/** Partition leases outlive the hold (a held replica renews nothing). */
const HELD_LEASE_MS = 60_000;
const partitionsFor = (k: number) => (k > 1 || PARTITION_ALL ? PARTITIONS : 1);
/** Stand-in agent processes; each plays REGIONS / AGENT_PROCS regions. */
const AGENT_PROCS = 2;
const SUMMARY_REQUESTS = 200;
const SUMMARY_SHAPES = [
  '/v1/summary?window=5m&groupBy=region',
  '/v1/summary?window=5m&groupBy=target',
  '/v1/summary?window=1m&groupBy=probe',
  '/v1/summary?window=1h&groupBy=target&region=r1',
];
const TTD_TIMEOUT_MS = 30_000;
/**
 * Priming passes over the full cardinality: the first opens every series, the next ones report into series
 * that exist, as the fleet does all night (a series opens once an hour at most, when it comes back after
 * the windows dropped it). Ingest per CPU-second is measured over the later passes (180 000 reports: a
 * window of several seconds, where one pass gave 2-4 s and figures 20 % apart between runs); the first
 * pass's is shown beside it. Three, not more: held replicas' partition leases last 60 s (HELD), and the
 * agents publish ~10k reports/s here.
 */
const PRIMING_PASSES = 3;
/** Share of each priming pass an ingest figure is measured over. */
const MEASURED_SHARE = 0.8;
const DRAIN_TIMEOUT_MS = 240_000;
const logger = createLogger('bench-scale', 'warn');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child process, killed if the bench itself is interrupted (Ctrl-C) mid-phase. */
const children = new Set<ChildProcess>();
const track = (c: ChildProcess) => {
  children.add(c);
  c.once('exit', () => children.delete(c));
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}

interface PhaseResult {
  replicas: number;
  partitions: number;
  drained: number;
  /** The replicas had worked through the backlog before the answers were measured. */
  caughtUp: boolean;
  cpuS: number[];
  /** nats-server's CPU seconds over the same window (it serves every phase; nothing else runs then). */
  natsCpuS: number;
  wallS: number;
  /** Reports per CPU-second per replica at steady cardinality (the later priming passes: series exist). */
  perReplica: number;
  /** The same over the opening pass, where every report opens its series. */
  openingPerReplica: number;
  efficiency: number;
  summaryP50: number;
  summaryP99: number;
  series: number;
  ttd: number[];
}

/** The replicas' ingest progress and CPU at one moment of the drain. */
interface Snapshot {
  acked: number;
  cpu: number[];
  nats: number;
  at: number;
}

/**
 * Reports acked between two snapshots over the CPU the replicas used meanwhile. Replicas share the work:
 * each one's figure is its share of the reports over its own CPU; with one consumer shared (or partitions
 * spread evenly) the shares are equal, so the average stands for each.
 */
function windowOf(from: Snapshot, to: Snapshot) {
  const drained = to.acked - from.acked;
  const cpuS = to.cpu.map((c, i) => c - (from.cpu[i] as number));
  return {
    drained,
    cpuS,
    natsCpuS: to.nats - from.nats,
    wallS: (to.at - from.at) / 1000,
    perReplica: drained / cpuS.reduce((a, b) => a + b, 0),
  };
}

interface ConsumerProgress {
  name: string;
  acked: number;
  pending: number;
  ackPending: number;
  waiting: number;
}

/**
 * The ingest consumers of the results stream. Partitioned, the partitions' durable consumers
 * (`<ingest>-<p>-of-<N>`; the shared one stays idle); else the shared one. Ordered consumers (live feed,
 * readers) are not ingest.
 */
async function ingestConsumers(
  jsm: JetStreamManager,
  n: Names,
  partitioned: boolean,
): Promise<ConsumerProgress[]> {
  const out: ConsumerProgress[] = [];
  for await (const c of jsm.consumers.list(n.resultsStream)) {
    // A consumer deleted while the list is read (a live feed closing, a replay ending) comes back as null.
    if (!c?.config) continue;
    const name = c.config.durable_name ?? '';
    const ours = partitioned
      ? name.startsWith(`${n.ingestConsumer}-`) && /-of-\d+$/.test(name)
      : name === n.ingestConsumer;
    if (!ours) continue;
    out.push({
      name,
      acked: c.ack_floor.consumer_seq,
      pending: c.num_pending,
      ackPending: c.num_ack_pending,
      waiting: c.num_waiting,
    });
  }
  return out;
}

/** Σ over the ingest consumers: acked deliveries and what is left. */
async function ingestProgress(
  jsm: JetStreamManager,
  n: Names,
  partitioned: boolean,
): Promise<{ acked: number; left: number; consumers: ConsumerProgress[] }> {
  const consumers = await ingestConsumers(jsm, n, partitioned);
  let acked = 0;
  let left = 0;
  for (const c of consumers) {
    acked += c.acked;
    left += c.pending + c.ackPending;
  }
  return { acked, left, consumers };
}

/** Starts the stand-in agents of one phase; `primed` resolves once every one has published its priming pass. */
function startAgents(
  natsUrl: string,
  prefix: string,
  tag: string,
): { agents: ChildProcess[]; primed: Promise<void> } {
  const per = Math.ceil(REGIONS / AGENT_PROCS);
  const agents: ChildProcess[] = [];
  const primed: Promise<void>[] = [];
  for (let a = 0; a * per < REGIONS; a++) {
    const regions = Math.min(per, REGIONS - a * per);
    const child = spawn(
      process.execPath,
      [
        AGENT,
        natsUrl,
        prefix,
        tag,
        String(a * per),
        String(regions),
        String(TARGETS),
        String(RATE / AGENT_PROCS),
        String(PRIMING_PASSES),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    agents.push(child);
    track(child);
    primed.push(
      new Promise((resolve, reject) => {
        const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
        lines.on('line', (l) => {
          if (l.startsWith('primed')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`stand-in agent exited (${code}) before priming`)));
      }),
    );
  }
  const all = Promise.all(primed).then(() => undefined);
  // Awaited later; a stand-in agent dying mid-phase must not be an unhandled rejection meanwhile.
  all.catch(() => undefined);
  return { agents, primed: all };
}

/**
 * Waits until every replica ingests what it will ingest for the phase: partitioned, every partition held by
 * one of the k replicas, none holding more than its share (ceil(P/k)), the same holders twice in a row a
 * second apart (a replica that started first takes every partition and hands most of them over as the
 * others join). One replica: its /healthz answered, its consumer runs.
 */
async function settled(kvm: Kvm, prefix: string, pids: number[], specs: number): Promise<void> {
  if (pids.length === 1 && specs === 1) return;
  const cap = Math.ceil(specs / pids.length);
  const kv = await kvm.open(`${prefix}_partitions`);
  const deadline = Date.now() + 120_000;
  let previous = '';
  for (;;) {
    // By key: the listing may yield a key twice (written while listed).
    const byKey = new Map<string, number>();
    for await (const key of await kv.keys('owner.>')) {
      const e = await kv.get(key);
      const holder = e?.value.length ? (e.json<{ holder: string }>().holder ?? '') : '';
      byKey.set(
        key,
        pids.findIndex((pid) => holder.includes(`-${pid}-`)),
      );
    }
    const holders = [...byKey.entries()].sort().map(([, h]) => h);
    const load = pids.map((_, i) => holders.filter((h) => h === i).length);
    const even = holders.length === specs && !holders.includes(-1) && load.every((l) => l > 0 && l <= cap);
    const now = JSON.stringify(holders);
    if (even && now === previous) return;
    previous = even ? now : '';
    if (Date.now() > deadline)
      throw new Error(`partitions not settled among the replicas: ${load.join('/')}`);
    await sleep(1000);
  }
}

/** A sequence of SSE events from one replica, as parsed objects of the given type. */
function sseEvents(
  url: string,
  type: string,
): { next: (match: (d: unknown) => boolean) => Promise<void>; close(): void } {
  const abort = new AbortController();
  const waiters: { match: (d: unknown) => boolean; resolve: () => void }[] = [];
  void (async () => {
    try {
      const res = await fetch(`${url}/v1/events?types=${type}`, { signal: abort.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let idx = buf.indexOf('\n\n');
        while (idx >= 0) {
          const chunk = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          idx = buf.indexOf('\n\n');
          const data = /^data: (.*)$/m.exec(chunk)?.[1];
          if (!data || !chunk.includes(`event: ${type}`)) continue;
          const parsed = JSON.parse(data) as unknown;
          for (let i = waiters.length - 1; i >= 0; i--) {
            const w = waiters[i] as (typeof waiters)[number];
            if (w.match(parsed)) {
              waiters.splice(i, 1);
              w.resolve();
            }
          }
        }
      }
    } catch {
      // aborted at the end of the phase
    }
  })();
  return {
    next: (match) => new Promise<void>((resolve) => waiters.push({ match, resolve })),
    close: () => abort.abort(),
  };
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/**
 * BENCH_SCALE_TRACE: one stderr line a second while the backlog drains, to tell waiting from computing:
 * per replica the reports acked since the last line (by the partition leases' holders), the consumers'
 * Σ pending / ack pending / waiting pull requests, and the CPU% of nats-server and each controller.
 */
function drainTracer(
  kvm: Kvm,
  prefix: string,
  natsPid: number,
  pids: number[],
): (p: { acked: number; consumers: ConsumerProgress[] }) => Promise<void> {
  let last: { at: number; cpu: number[]; acked: Map<string, number> } | undefined;
  const t0 = Date.now();
  // Which replica holds which partition, from a watch of the leases (every write seen, in order): the
  // lease value names the holder, whose id holds its pid. A lease deleted or taken by another replica is
  // a hand-over; a partition handed over during the burst restarts from its rebuild (none in the bench).
  const holderOf = new Map<string, number>();
  let handovers = 0;
  void (async () => {
    try {
      const kv = await kvm.open(`${prefix}_partitions`);
      for await (const e of await kv.watch({ key: 'owner.>' })) {
        const p = e.key.slice('owner.'.length);
        const holder = e.operation === 'PUT' ? (e.json<{ holder: string }>().holder ?? '') : '';
        const idx = holder ? pids.findIndex((pid) => holder.includes(`-${pid}-`)) : -1;
        const was = holderOf.get(p);
        if (was !== undefined && was !== idx) handovers++;
        if (idx >= 0) holderOf.set(p, idx);
        else holderOf.delete(p);
      }
    } catch {
      // one replica, unpartitioned: no lease bucket
    }
  })();
  return async (p) => {
    const now = Date.now();
    if (last && now - last.at < 1000) return;
    const cpu = [natsPid, ...pids].map(cpuSeconds);
    const acked = new Map(p.consumers.map((c) => [c.name, c.acked]));
    if (last) {
      const dt = (now - last.at) / 1000;
      const per = pids.map(() => 0);
      for (const c of p.consumers) {
        const d = c.acked - (last.acked.get(c.name) ?? c.acked);
        const part =
          /-(\d+|unmapped|legacy)-of-\d+$/.exec(c.name)?.[1] ?? /-(unmapped|legacy)$/.exec(c.name)?.[1];
        const idx = pids.length === 1 ? 0 : (holderOf.get(part ?? '') ?? -1);
        if (idx >= 0) per[idx] = (per[idx] as number) + d;
      }
      const sum = (f: (c: ConsumerProgress) => number) => p.consumers.reduce((a, c) => a + f(c), 0);
      const pct = cpu.map((c, i) => Math.round(((c - (last?.cpu[i] as number)) / dt) * 100));
      process.stderr.write(
        `  t=${((now - t0) / 1000).toFixed(1)}s acked/s ${per.map((x) => Math.round(x / dt)).join('/')} ` +
          `pending ${sum((c) => c.pending)} ackPending ${sum((c) => c.ackPending)} waiting ${sum((c) => c.waiting)} ` +
          `owned ${pids.map((_, i) => [...holderOf.values()].filter((h) => h === i).length).join('/')} ` +
          `hand-overs ${handovers} ` +
          `cpu% nats ${pct[0]} ctl ${pct.slice(1).join('/')}\n`,
      );
    }
    last = { at: now, cpu, acked };
  };
}

async function phase(
  natsUrl: string,
  natsPid: number,
  k: number,
  oneReplica: number | undefined,
): Promise<PhaseResult> {
  const prefix = `scale${k}`;
  const n = subjectNames(prefix);
  const tag = `p${k}x${Date.now().toString(36)}`;
  const partitions = partitionsFor(k);
  const env = {
    LIVEPROBE_PREFIX: prefix,
    LIVEPROBE_REBUILD_WINDOW_S: '0',
    LIVEPROBE_PARTITIONS: String(partitions),
    ...(HELD ? { LIVEPROBE_PARTITION_LEASE_MS: String(HELD_LEASE_MS) } : {}),
  };
  const nc = await connect({ servers: natsUrl });
  // Listing the partition consumers makes nats-server 2.9 count each one's pending reports over the
  // stream (see ingestProgress's polling): with the priming passes' 300 000 reports it took over the
  // client's default 5 s once.
  const jsm = await jetstreamManager(nc, { timeout: 30_000 });
  const controllers: ChildProcess[] = [];
  let agents: ChildProcess[] = [];
  const sse: { close(): void }[] = [];
  /** Replicas held by SIGSTOP (released before anything else on the way out). */
  let stopped: number[] = [];
  try {
    // A first controller creates the streams and the ingest consumer(s), then stops.
    const setupPort = await freeLoopbackPort();
    await stopChild(await startControllerProcess(natsUrl, setupPort, env));
    // The k controllers start and settle (partitions leased among them) before any report exists: the
    // burst below then measures k replicas ingesting side by side. (Published before they start, the
    // backlog was ingested by whichever replica came up first while the others were still starting, and
    // the measured window held the live rate instead: the replicas looked slow while they were idle.)
    const ports = await Promise.all(Array.from({ length: k }, () => freeLoopbackPort()));
    // On a starved machine a controller's start-up requests to JetStream may time out: one more try.
    const launch = (p: number) =>
      startControllerProcess(natsUrl, p, env).catch(() => startControllerProcess(natsUrl, p, env));
    controllers.push(...(await Promise.all(ports.map(launch))));
    for (const c of controllers) track(c);
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    const pids = controllers.map((c) => c.pid as number);
    const kvm = new Kvm(nc);
    await settled(kvm, prefix, pids, partitions > 1 ? partitions + 2 : 1);
    const trace = TRACE ? drainTracer(kvm, prefix, natsPid, pids) : async () => undefined;

    // The burst: the stand-in agents publish the full cardinality as fast as JetStream takes it, then the
    // live rate. Measured from just before it over MEASURED_SHARE of it: ingest per CPU-second is the
    // replicas' CPU for those reports (idle CPU before the burst and start-up CPU excluded).
    process.stderr.write(
      `[${k} replica(s)] priming ${REGIONS * TARGETS} series x ${PRIMING_PASSES} passes ${HELD ? 'while the replicas are held' : 'while the replicas ingest'}...\n`,
    );
    let fleet!: ReturnType<typeof startAgents>;
    if (HELD) {
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      stopped = pids;
      const heldAt = Date.now();
      fleet = startAgents(natsUrl, prefix, tag);
      agents = fleet.agents;
      await fleet.primed;
      const heldS = (Date.now() - heldAt) / 1000;
      process.stderr.write(
        `[${k} replica(s)] primed in ${heldS.toFixed(1)} s${heldS * 1000 > HELD_LEASE_MS * 0.8 ? ' (close to the held leases’ TTL: partitions may move)' : ''}\n`,
      );
    }
    const before = await ingestProgress(jsm, n, partitions > 1);
    await trace(before);
    const begin: Snapshot = {
      acked: before.acked,
      cpu: pids.map(cpuSeconds),
      nats: cpuSeconds(natsPid),
      at: Date.now(),
    };
    if (HELD) {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      stopped = [];
    } else {
      fleet = startAgents(natsUrl, prefix, tag);
      agents = fleet.agents;
    }
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    // Checkpoints over the backlog: the opening pass measured over its first MEASURED_SHARE, the steady
    // passes (every series exists) from the end of the opening pass to MEASURED_SHARE into the last one.
    const series = REGIONS * TARGETS;
    const marks = [series * MEASURED_SHARE, series, series * (PRIMING_PASSES - 1 + MEASURED_SHARE)];
    const at: Snapshot[] = [];
    while (at.length < marks.length) {
      const p = await ingestProgress(jsm, n, partitions > 1);
      await trace(p);
      while (at.length < marks.length && p.acked - begin.acked >= (marks[at.length] as number)) {
        at.push({ acked: p.acked, cpu: pids.map(cpuSeconds), nats: cpuSeconds(natsPid), at: Date.now() });
      }
      if (at.length === marks.length) break;
      if (Date.now() > deadline) throw new Error(`backlog not ingested in time (${JSON.stringify(p)})`);
      // Not faster: each consumer info makes nats-server 2.9 count a filtered consumer's pending reports
      // over the stream's subjects (100 000 here), which showed in its CPU at 10 polls a second.
      await sleep(250);
    }
    const [openEnd, steadyBegin, end] = at as [Snapshot, Snapshot, Snapshot];
    await fleet.primed;
    // Then the rest of the backlog, so the answers below see the full cardinality (bounded: on a starved
    // machine the replicas may only just keep up with the live rate; the figures below then say so).
    let caughtUp = false;
    while (Date.now() < deadline) {
      const p = await ingestProgress(jsm, n, partitions > 1);
      await trace(p);
      if (p.left < Math.max(500, RATE)) {
        caughtUp = true;
        break;
      }
      await sleep(250);
    }
    if (!caughtUp) process.stderr.write(`[${k} replica(s)] not caught up with the live rate; going on\n`);
    const opening = windowOf(begin, openEnd);
    const steady = windowOf(steadyBegin, end);
    const perReplica = steady.perReplica;
    const efficiency = oneReplica ? perReplica / oneReplica : 1;

    // Summary latency from any replica, at full cardinality, while the fleet keeps publishing.
    for (const u of urls) for (const s of SUMMARY_SHAPES) await getJson(`${u}${s}`);
    const lat: number[] = [];
    const byShape = new Map<string, number[]>();
    for (let i = 0; i < SUMMARY_REQUESTS; i++) {
      const shape = SUMMARY_SHAPES[i % SUMMARY_SHAPES.length] as string;
      const t = performance.now();
      await getJson(`${urls[i % k]}${shape}`);
      const ms = performance.now() - t;
      lat.push(ms);
      byShape.set(shape, [...(byShape.get(shape) ?? []), ms]);
      await sleep(20);
    }
    lat.sort((a, b) => a - b);
    if (TRACE)
      for (const [shape, l] of byShape) {
        l.sort((a, b) => a - b);
        process.stderr.write(
          `  summary ${shape}: p50 ${Math.round(percentile(l, 0.5))} p90 ${Math.round(percentile(l, 0.9))} max ${Math.round(l[l.length - 1] as number)} ms\n`,
        );
      }

    // Series held: distinct target x region in the answers, region by region, asking the replicas in turn
    // (each answers for the whole fleet).
    const held = new Set<string>();
    let partial = 0;
    for (let r = 0; r < REGIONS; r++) {
      const body = (await getJson(
        `${urls[r % k]}/v1/summary?window=1h&groupBy=target&region=${regionName(r)}`,
      )) as { groups: { key: string }[]; partial?: boolean };
      if (body.partial) partial++;
      for (const g of body.groups) held.add(`${g.key}/${r}`);
    }
    if (partial) process.stderr.write(`[${k} replica(s)] ${partial} partial answers while counting series\n`);

    // Time to detect under load: one target, two regions, a stale playlist.
    process.stderr.write(`[${k} replica(s)] injecting ${INJECTIONS} problems...\n`);
    const alerts = sseEvents(urls[0] as string, 'alert');
    sse.push(alerts);
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: n, logger });
    const ttd: number[] = [];
    for (let j = 0; j < INJECTIONS; j++) {
      const target = targetName((j * 37) % TARGETS);
      const fired = alerts.next((d) => {
        const e = d as { transition?: string; alert?: { labels?: Record<string, string> } };
        return (
          e.transition === 'firing' &&
          e.alert?.labels?.target === target &&
          JSON.stringify(e.alert).includes('playlist-stale')
        );
      });
      const t0 = performance.now();
      await Promise.all(
        [j % REGIONS, (j + Math.floor(REGIONS / 2)) % REGIONS].map((r) => {
          const base = fleetReport(`${tag}-inject${j}`, r, (j * 37) % TARGETS, 0);
          return publisher.publish({
            ...base,
            probe: 'stream',
            outcome: 'degraded',
            reasons: ['playlist stale'],
            findings: [
              {
                code: 'playlist-stale',
                severity: 'critical',
                variant: `https://cdn.example.com/live/${target}/360p.m3u8`,
                at: Date.now(),
                count: 1,
                evidence: 'media sequence unchanged for 3 target durations (bench:scale injection)',
              },
            ],
          });
        }),
      );
      const timedOut = sleep(TTD_TIMEOUT_MS).then(() => 'timeout' as const);
      const outcome = await Promise.race([fired.then(() => 'fired' as const), timedOut]);
      ttd.push(outcome === 'fired' ? performance.now() - t0 : TTD_TIMEOUT_MS);
      await sleep(1000);
    }
    ttd.sort((a, b) => a - b);
    return {
      replicas: k,
      partitions,
      drained: steady.drained,
      caughtUp,
      cpuS: steady.cpuS,
      natsCpuS: steady.natsCpuS,
      wallS: steady.wallS,
      perReplica,
      openingPerReplica: opening.perReplica,
      efficiency,
      summaryP50: percentile(lat, 0.5),
      summaryP99: percentile(lat, 0.99),
      series: held.size,
      ttd,
    };
  } finally {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
    for (const s of sse) s.close();
    await Promise.all(agents.map((a) => stopChild(a)));
    await Promise.all(controllers.map((c) => stopChild(c)));
    // Free the phase's disk: its streams and buckets (KV_<prefix>_*).
    for await (const s of jsm.streams.list()) {
      const name = s.config.name;
      if (name.startsWith(`${prefix.toUpperCase()}_`) || name.startsWith(`KV_${prefix}_`)) {
        await jsm.streams.delete(name).catch(() => undefined);
      }
    }
    await nc.close();
  }
}

/**
 * nats-server with the partition mapping for every phase that runs partitioned (the deployment's own
 * mapping, docs/operations/scale-out.md).
 */
async function startNats(): Promise<{ url: string; pid: number; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-scale-'));
  const conf = join(dir, 'nats.conf');
  const maps = REPLICAS.filter((k) => partitionsFor(k) > 1).map(
    (k) =>
      `  "scale${k}.results.*.*.*": "scale${k}.results.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(${partitionsFor(k)},3)}}"`,
  );
  writeFileSync(
    conf,
    [
      `jetstream { store_dir: "${join(dir, 'store')}" }`,
      // Held replicas do not read their sockets: the server must not drop them as slow consumers meanwhile.
      ...(HELD ? ['write_deadline: "120s"'] : []),
      'mappings: {',
      ...maps,
      '}',
    ].join('\n'),
  );
  const nats = await startNatsServer({ port: await freeLoopbackPort(), storeDir: dir, configFile: conf });
  track(nats.child);
  return {
    url: nats.url,
    pid: nats.child.pid as number,
    async cleanup() {
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const nats = await startNats();
  const results: PhaseResult[] = [];
  try {
    for (const k of REPLICAS) {
      const r = await phase(nats.url, nats.pid, k, results.find((x) => x.replicas === 1)?.perReplica);
      results.push(r);
      process.stderr.write(
        `[${k} replica(s)] ${Math.round(r.perReplica)} reports/CPU-s per replica (opening series ${Math.round(r.openingPerReplica)}; ${r.drained} reports, CPU ${r.cpuS.map((c) => c.toFixed(1)).join('/')} s, nats-server ${r.natsCpuS.toFixed(1)} s), efficiency ${r.efficiency.toFixed(2)}, summary p99 ${Math.round(r.summaryP99)} ms, series ${r.series}, ttd p95 ${Math.round(percentile(r.ttd, 0.95))} ms\n`,
      );
    }
  } finally {
    await nats.cleanup();
  }
  const table = new Table({
    // Plain: the output is read in logs and CI as often as in a terminal.
    style: { head: [], border: [] },
    head: [
      'replicas (partitions)',
      'reports measured',
      'CPU s per replica',
      'nats-server CPU s',
      'ingest/CPU-s per replica',
      'opening series',
      'carried (Σ reports/CPU-s)',
      'efficiency',
      'summary p50 / p99 ms',
      'series',
      'ttd p50 / p95 ms',
    ],
  });
  const r0 = Math.round;
  for (const r of results) {
    table.push([
      `${r.replicas} (${r.partitions})`,
      `${r.drained} in ${r.wallS.toFixed(1)} s`,
      r.cpuS.map((c) => c.toFixed(1)).join(' / '),
      r.natsCpuS.toFixed(1),
      r0(r.perReplica),
      r0(r.openingPerReplica),
      r0(r.perReplica * r.replicas),
      r.efficiency.toFixed(2),
      `${r0(r.summaryP50)} / ${r0(r.summaryP99)}`,
      r.caughtUp ? r.series : `${r.series} (still behind)`,
      `${r0(percentile(r.ttd, 0.5))} / ${r0(percentile(r.ttd, 0.95))}`,
    ]);
  }
  process.stdout.write(
    `bench:scale — ${REGIONS} regions x ${TARGETS} targets, live rate ${RATE} reports/s, ` +
      `${AGENT_PROCS} stand-in agent processes, ${Math.round((Date.now() - t0) / 1000)} s\n${table.toString()}\n`,
  );
  const one = results.find((r) => r.replicas === 1);
  const multi = results.filter((r) => r.replicas > 1);
  const allTtd = results.map((r) => percentile(r.ttd, 0.95));
  process.stdout.write(
    `ingest_per_cpu_s=${r0(one?.perReplica ?? Number.NaN)} ` +
      `scaling_efficiency=${(multi.length ? Math.min(...multi.map((r) => r.efficiency)) : 1).toFixed(2)} ` +
      `summary_p99_ms=${r0(Math.max(...results.map((r) => r.summaryP99)))} ` +
      `ttd_under_load_p95_ms=${r0(Math.max(...allTtd))} ` +
      `series=${Math.min(...results.map((r) => r.series))}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:scale failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Schedule, Watch } from '../shared/api.js';
import type { Config } from '../shared/config.js';
import { EgressPolicy } from '../shared/egress.js';
import type { Logger } from '../shared/log.js';
import { withSegments } from '../shared/report-core.js';
import { names as subjectNames } from '../shared/subjects.js';
import { connectNats, encodeJson } from '../shared/transport.js';
import { Aggregator } from './aggregate/aggregator.js';
import { Alerting } from './alerting/index.js';
import { isLoopback } from './api/auth.js';
import { buildApi } from './api/server.js';
import { EventBus } from './events.js';
import { Fleet } from './fleet.js';
import { BEHIND_REPORTS, Ingest } from './ingest.js';
import { InjectorRegistry } from './injectors.js';
import { LatestReports } from './latest.js';
import { ControllerMetrics } from './metrics.js';
import { isNumberedPartition, partitionOf } from './partition/hash.js';
import { type Partitioned, type SignalSink, startPartitioned } from './partition/index.js';
import { ResultsReader } from './results.js';
import { Lease } from './scheduler/lease.js';
import { Scheduler } from './scheduler/scheduler.js';
import { KvCollection } from './state/kvcollection.js';
import { TargetStore } from './state/targets.js';
import { Topology } from './state/topology.js';
import { SweepService } from './sweeps.js';
import { serveTime } from './timeservice.js';
import { WatchService } from './watches.js';

/** A dead scheduler replica's lease expires after this; the next replica fires the following tick. */
const LEASE_TTL_MS = 5000;

export interface ControllerOptions {
  config: Config;
  logger: Logger;
}

export interface Controller {
  url: string;
  port: number;
  events: EventBus;
  targets: TargetStore;
  sweeps: SweepService;
  ingest: Ingest;
  aggregator: Aggregator;
  scheduler: Scheduler;
  lease: Lease;
  alerting: Alerting;
  /** Partitioned ingest (controller.partitions > 1); undefined on a single shared consumer. */
  partitioned?: Partitioned;
  stop(): Promise<void>;
}

/** ingest -> (sweeps, events) ; fleet registry ; time service ; HTTP API. */
export async function startController(opts: ControllerOptions): Promise<Controller> {
  const { config } = opts;
  const logger = opts.logger.child({ component: 'controller' });
  if (config.controller.tokens.length === 0) {
    if (!isLoopback(config.controller.host)) {
      throw new Error(
        `refusing to bind the API to ${config.controller.host} without authentication: set controller.tokens (LIVEPROBE_TOKENS) or bind to 127.0.0.1`,
      );
    }
    logger.warn('API authentication is off (no tokens configured); bound to loopback only');
  }
  const names = subjectNames(config.nats.prefix);
  const nc = await connectNats(config.nats, 'liveprobe-controller', logger);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  const { replicas } = config.nats;
  let fleetRef: Fleet | undefined;
  const topology = new Topology({
    jsm,
    names,
    logger,
    resultsMaxAgeH: config.nats.resultsMaxAgeH,
    resultsMaxMb: config.nats.resultsMaxMb,
    jobsMaxMb: config.nats.jobsMaxMb,
    replicas,
    jobAckWaitS: config.nats.jobAckWaitS,
    jobConsumerIdleS: config.nats.jobConsumerIdleS,
    isKnownRegion: (region) => fleetRef?.regions().some((r) => r.region === region) ?? false,
    leafRegions: config.nats.leafRegions,
    domainManager: (domain) => jetstreamManager(nc, { domain, checkAPI: false }),
  });
  await topology.ensureStreams();
  const stopLeafStreams = topology.maintainLeafStreams();
  const kvm = new Kvm(js);
  const targets = new TargetStore(
    await kvm.create(`${config.nats.prefix}_targets`, { history: 5, replicas }),
    logger,
  );
  await targets.start();
  const schedules = new KvCollection(
    await kvm.create(`${config.nats.prefix}_schedules`, { history: 5, replicas }),
    Schedule,
    logger,
  );
  await schedules.start();
  // Entries of the leases bucket live LEASE_TTL_MS unless renewed: the scheduler lease and tick guards.
  const leases = await kvm.create(`${config.nats.prefix}_leases`, {
    ttl: LEASE_TTL_MS,
    history: 1,
    replicas,
  });

  const events = new EventBus();
  const sweeps = new SweepService({
    js,
    jsm,
    names,
    targets,
    topology,
    events,
    logger,
    kv: await kvm.create(`${config.nats.prefix}_sweeps`, { history: 1, replicas }),
    regions: () => fleetRef?.regions() ?? [],
    // The watch-stop broadcast also carries {sweepId}: agents abort that sweep's running jobs.
    stopJobs: (sweepId) => nc.publish(names.watchStop, encodeJson({ sweepId })),
  });
  await sweeps.start();
  const aggregator = new Aggregator({ labelsOf: (id) => targets.get(id)?.labels });
  const latest = new LatestReports();
  let partitioned: Partitioned | undefined;
  // Nobody can listen before the API is up (set below once its listeners are known). It was `true` until
  // then: every replica decoded the whole fleet's reports for its first seconds (LiveFeed lingers 5 s),
  // the cost of a full ingest each time a replica started.
  let feedWanted: () => boolean = () => false;
  // Set once alerting is up: it hears the cluster's problem reports while it holds its lease.
  let alertingRef: (SignalSink & { isLeader: boolean }) | undefined;
  // Partitioned: the per-series gauges come from the partitions this replica owns (each series from its owner).
  const seriesSource = {
    perSeries: (...a: Parameters<Aggregator['perSeries']>) =>
      partitioned
        ? [...partitioned.owner.states.values()].flatMap((p) => p.aggregator.perSeries(...a))
        : aggregator.perSeries(...a),
  };
  const metrics = new ControllerMetrics(seriesSource, {
    targetLabels: config.controller.metricsTargetLabels,
    labelsOf: (id) => targets.get(id)?.labels,
    maxSeries: config.controller.metricsMaxSeries,
  });
  const results = new ResultsReader(js, jsm, names, config.controller.partitions);
  const partitionedMode = config.controller.partitions > 1;
  const ingest = new Ingest({
    js,
    names,
    logger,
    onReport: (r, seq, segments) => {
      aggregator.add(r);
      latest.add(r);
      metrics.observe(r);
      sweeps.onReport(r);
      events.emit('ingested', r, seq);
      // The whole report (its segment rows decoded and validated) only for an open live feed.
      if (feedWanted()) {
        const whole = withSegments(r, segments);
        if (whole) events.emit('report', whole, seq);
        else
          logger.warn({ reportId: r.id }, "report's segment rows are malformed; left out of the live feed");
      }
    },
  });
  // Rebuild the windows from the stream before live ingest starts: a restart keeps /v1/summary's figures.
  const t0 = Date.now();
  const rebuildMs = partitionedMode ? 0 : config.controller.rebuildWindowS * 1000;
  const replayed = rebuildMs
    ? await results.replay(new Date(Date.now() - rebuildMs), (r) => {
        aggregator.add(r);
        // A report that arrived while no controller ran still completes its sweep (idempotent per id).
        sweeps.onReport(r);
        latest.add(r);
        ingest.remember(r.id);
      })
    : 0;
  logger.info(
    { replayed, ms: Date.now() - t0, series: aggregator.size },
    'aggregation windows rebuilt from the results stream',
  );
  const replicaId = `${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}-${randomBytes(2).toString('hex')}`;
  if (partitionedMode) {
    // Each replica ingests the partitions it leases (controller/partition/); the shared consumer stays idle.
    partitioned = await startPartitioned({
      config,
      nc,
      js,
      jsm,
      kvm,
      names,
      results,
      replicaId,
      logger,
      labelsOf: (id) => targets.get(id)?.labels,
      onReport: (r) => {
        // Replayed too: a partition taken over brings its series' exports along (the old owner dropped
        // them), so summing the replicas' /metrics stays exact across a hand-over.
        metrics.observe(r);
        sweeps.onReport(r);
      },
      onFeed: (r, seq) => events.emit('report', r, seq),
      feedWanted: () => feedWanted(),
      expectationsOf: (id) => targets.get(id)?.expectations,
      // Its series are exported by the new owner from now on (a partition of an unmapped subject cannot
      // be told by target: its series age out as idle).
      onReleased: (p) => {
        if (isNumberedPartition(p))
          metrics.forget((t) => partitionOf(t, config.controller.partitions) === Number(p));
      },
      alerting: () => (alertingRef?.isLeader ? alertingRef : undefined),
    });
    const owner = partitioned.owner;
    metrics.trackIngest({
      get ingested() {
        return owner.stats().ingested;
      },
      get invalid() {
        return owner.stats().invalid;
      },
      get redelivered() {
        return owner.stats().redelivered;
      },
    });
  } else {
    await ingest.start();
    metrics.trackIngest(ingest.stats, async () => {
      const info = await jsm.consumers.info(names.resultsStream, names.ingestConsumer);
      return { pending: info.num_pending, ackPending: info.num_ack_pending };
    });
  }
  const evictTimer = setInterval(() => {
    aggregator.evict();
    metrics.evict();
    latest.evict(Date.now() - 3_600_000);
  }, 30_000);
  const fleet = new Fleet({
    nc,
    names,
    logger,
    events,
    offlineAfterMs: config.agent.heartbeatS * 3000,
    // Agents of a new region find their work queue ready when the first job arrives.
    onRegion: (region) =>
      void topology
        .ensureRegion(region, true)
        .catch((err) => logger.error({ err, region }, 'region setup failed')),
  });
  // A consumer JetStream removed while its region was idle is back before that region's agents pull again.
  const regionTimer = setInterval(() => {
    for (const r of fleet.regions())
      if (r.agents.online > 0)
        void topology
          .ensureRegion(r.region, true)
          .catch((err) => logger.warn({ err, region: r.region }, 'region refresh failed'));
  }, 60_000);
  regionTimer.unref();
  fleet.start();
  fleetRef = fleet;
  metrics.trackFleet(() => fleet.regions());
  const timeSub = serveTime(nc, names);

  const lease = new Lease({
    kv: leases,
    key: 'scheduler',
    holder: replicaId,
    everyMs: LEASE_TTL_MS / 5,
    logger,
  });
  lease.start();
  const scheduler = new Scheduler({ schedules, sweeps, lease, guards: leases, logger });
  scheduler.start();
  const watches = new KvCollection(
    await kvm.create(`${config.nats.prefix}_watches`, { history: 5, replicas }),
    Watch,
    logger,
  );
  await watches.start();
  const watchService = new WatchService({
    watches,
    state: await kvm.create(`${config.nats.prefix}_watchstate`, { history: 1, replicas }),
    js,
    nc,
    names,
    targets,
    topology,
    lease,
    logger,
  });
  watchService.start();
  let apiUrl: string | undefined;
  const alerting = await Alerting.create({
    kvm,
    prefix: config.nats.prefix,
    replicas,
    leases,
    holder: replicaId,
    aggregator,
    fleet,
    targets,
    events,
    logger,
    rulesFile: config.controller.rulesFile,
    externalUrl: () => config.controller.externalUrl ?? apiUrl,
    // Partitioned: alerting reads the windows merged from every replica, never the stream a second time.
    ...(partitioned ? { cluster: partitioned.cluster } : { stream: { js, jsm, names } }),
    ingestBehind: () => (partitioned ? partitioned.owner.backlog() : ingest.backlog) > BEHIND_REPORTS,
  });
  await alerting.start();
  // Partitioned: the fleet-wide gauges come from one replica, so Prometheus can sum the replicas.
  if (partitioned) metrics.exportsFleet = () => alerting.isLeader;
  alertingRef = {
    get isLeader() {
      return alerting.isLeader;
    },
    observe: (r) => alerting.observeFromCluster(r),
    noteTargets: (t) => alerting.noteTargets(t),
  };
  metrics.trackAlerting({
    alertCounts: () => alerting.alertCounts(),
    notificationCounts: () =>
      alerting.receiverNames.map((receiver) => ({
        receiver,
        ...(alerting.notificationCounts.get(receiver) ?? { sent: 0, failed: 0 }),
      })),
  });

  const injectors = new InjectorRegistry({ nc, names, logger });
  injectors.start();

  const app = await buildApi(
    {
      sweeps,
      targets,
      results,
      fleet,
      injectors,
      aggregator,
      latest,
      events,
      metrics,
      schedules,
      scheduler,
      watches,
      watchService,
      alerting,
      ready: () => !nc.isClosed(),
      egress: new EgressPolicy(config.egress.allow),
      cluster: partitioned?.cluster,
    },
    config.controller,
    logger,
  );
  await app.listen({ host: config.controller.host, port: config.controller.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.controller.port;
  const url = `http://${config.controller.host.includes(':') ? `[${config.controller.host}]` : config.controller.host}:${port}`;
  logger.info({ url }, 'controller API listening');
  apiUrl = url;
  // Partitioned: read the fleet's live feed only while an event stream is open here (the alerting lease
  // holder hears problem reports from the partitions' owners instead: controller/partition/signals.ts).
  const baseListeners = events.listenerCount('report');
  feedWanted = () => events.listenerCount('report') > baseListeners;
  const onNewListener = (name: string) => {
    if (name === 'report') partitioned?.feed.poke();
  };
  (events as unknown as NodeJS.EventEmitter).on('newListener', onNewListener);

  return {
    url,
    port,
    events,
    targets,
    sweeps,
    ingest,
    aggregator,
    scheduler,
    lease,
    alerting,
    partitioned,
    async stop() {
      (events as unknown as NodeJS.EventEmitter).off('newListener', onNewListener);
      clearInterval(evictTimer);
      clearInterval(regionTimer);
      injectors.stop();
      stopLeafStreams();
      // nats-server may have got the same Ctrl-C and be gone: then every KV write and drain below would wait
      // for its request timeout. Closing the connection first makes them fail at once.
      const reachable = await Promise.race([
        nc.flush().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref()),
      ]);
      if (!reachable) {
        logger.warn('NATS unreachable: stopping without it');
        await nc.close().catch(() => undefined);
      }
      const step = (what: string, p: Promise<unknown> | unknown) =>
        Promise.resolve(p).catch((err) =>
          logger.warn({ err: (err as Error).message, what }, 'stop step failed'),
        );
      await step('alerting', alerting.stop());
      // Hands this replica's partitions over at once (acks flushed, leases deleted).
      if (partitioned) await step('partitions', partitioned.stop());
      scheduler.stop();
      watchService.close();
      await step('lease', lease.stop());
      await step('api', app.close());
      await step('sweeps', sweeps.stop());
      fleet.stop();
      timeSub.unsubscribe();
      await step('ingest', ingest.stop());
      await step('targets', targets.stop());
      await step('schedules', schedules.stop());
      await step('watches', watches.stop());
      if (reachable) await nc.drain().catch(() => undefined);
    },
  };
}

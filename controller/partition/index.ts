import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';
import type { ReportCore } from '../../shared/report-core.js';
import type { Report } from '../../shared/schemas.js';
import type { Names } from '../../shared/subjects.js';
import type { EvaluateInput } from '../alerting/evaluate.js';
import { BEHIND_REPORTS } from '../ingest.js';
import type { ResultsReader } from '../results.js';
import { Cluster } from './cluster.js';
import { LiveFeed } from './feed.js';
import { partitionSpecs } from './hash.js';
import { PartitionLeases } from './leases.js';
import { PartitionOwner } from './owner.js';
import { ClusterSignals, type SignalSink } from './signals.js';

export { Cluster } from './cluster.js';
export type { SignalSink } from './signals.js';

export interface PartitionedOptions {
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  names: Names;
  results: ResultsReader;
  replicaId: string;
  logger: Logger;
  labelsOf: (targetId: string) => Record<string, string> | undefined;
  /** A report of an owned partition, once (live or replayed when the partition was taken). */
  onReport: (r: ReportCore, replayed: boolean) => void;
  /** Every new report of the fleet, whoever owns it (the live SSE feed). */
  onFeed: (r: Report, seq: number) => void;
  /** A partition this replica no longer owns (see PartitionOwnerOptions.onReleased). */
  onReleased?: (id: string) => void;
  /** Whether the live feed is needed now (see LiveFeed). */
  feedWanted?: () => boolean;
  /** A target's expectations (rule thresholds): this replica evaluates alert rules for its partitions. */
  expectationsOf?: EvaluateInput['expectations'];
  /** The alerting while it holds its lease: told of problem reports and active targets cluster-wide. */
  alerting?: () => SignalSink | undefined;
}

export interface Partitioned {
  owner: PartitionOwner;
  leases: PartitionLeases;
  cluster: Cluster;
  feed: LiveFeed;
  signals: ClusterSignals;
  stop(): Promise<void>;
}

/**
 * Partitioned ingest (controller.partitions > 1, docs/operations/scale-out.md): leases decide which
 * replica reads which partition, the owner keeps each partition's windows, the cluster answers for all.
 */
export async function startPartitioned(opts: PartitionedOptions): Promise<Partitioned> {
  const { config, names, logger } = opts;
  const specs = partitionSpecs(names, config.controller.partitions);
  const log = logger.child({ component: 'partitions' });
  const signals = new ClusterSignals({
    nc: opts.nc,
    subject: `${names.prefix}.cluster.signal`,
    replicaId: opts.replicaId,
    logger: log,
    sink: () => opts.alerting?.(),
  });
  const owner = new PartitionOwner({
    js: opts.js,
    jsm: opts.jsm,
    names,
    results: opts.results,
    logger: log,
    specs,
    rebuildMs: config.controller.rebuildWindowS * 1000,
    labelsOf: opts.labelsOf,
    onReport: (r, replayed) => {
      opts.onReport(r, replayed);
      if (!replayed) signals.onReport(r);
    },
    onReleased: opts.onReleased,
  });
  await owner.ensureConsumers();
  const kv = await opts.kvm.create(`${config.nats.prefix}_partitions`, {
    ttl: config.controller.partitionLeaseMs,
    history: 1,
    replicas: config.nats.replicas,
  });
  const leases = new PartitionLeases({
    kv,
    replicaId: opts.replicaId,
    partitions: specs.map((s) => s.id),
    leaseMs: config.controller.partitionLeaseMs,
    logger: log,
    onAcquire: (p) => owner.acquire(p),
    onRelease: (p) => owner.release(p),
  });
  const cluster = new Cluster({
    nc: opts.nc,
    subject: `${names.prefix}.cluster.query`,
    replicaId: opts.replicaId,
    leases,
    owner,
    partitions: specs.map((s) => s.id),
    deadlineMs: config.controller.mergeDeadlineMs,
    logger: log,
    count: config.controller.partitions,
    expectations: opts.expectationsOf,
    behind: () => owner.backlog() > BEHIND_REPORTS,
  });
  cluster.start();
  signals.start();
  const feed = new LiveFeed({
    js: opts.js,
    names,
    logger: log,
    onReport: opts.onFeed,
    wanted: opts.feedWanted,
  });
  await feed.start();
  leases.start();
  log.info({ partitions: config.controller.partitions, replica: opts.replicaId }, 'partitioned ingest on');
  const evictTimer = setInterval(() => owner.evict(), 30_000);
  return {
    owner,
    leases,
    cluster,
    feed,
    signals,
    async stop() {
      clearInterval(evictTimer);
      signals.stop();
      await leases.stop();
      await owner.stop();
      cluster.stop();
      await feed.stop();
    },
  };
}

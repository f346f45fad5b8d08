import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import type { Names } from '../../shared/subjects.js';

export interface TopologyOptions {
  jsm: JetStreamManager;
  names: Names;
  logger: Logger;
  resultsMaxAgeH: number;
  /** How long JetStream remembers a Nats-Msg-Id: retries inside it are deduplicated. */
  dedupWindowS?: number;
  /** Ack wait of the job consumers; agents call working() well inside it. */
  jobAckWaitS?: number;
  /**
   * A region's job consumer that no agent has pulled from (nor acked on) for this long is removed by
   * JetStream itself (inactive_threshold). Default 3600 s.
   */
  jobConsumerIdleS?: number;
  /**
   * Regions a job consumer may be created for (those of agents the fleet has heard from). Without it,
   * any region is. A job for another region waits in the stream until an agent of that region announces
   * itself (its first heartbeat creates the consumer).
   */
  isKnownRegion?: (region: string) => boolean;
  /** Stream replicas (3 on a 3-node cluster: the streams survive the loss of one node). Default 1. */
  replicas?: number;
  /** Size bounds, MiB: the results stream drops its oldest reports past it; the jobs stream refuses new jobs. */
  resultsMaxMb?: number;
  jobsMaxMb?: number;
  /**
   * Regions behind a leaf node whose JetStream domain is the region's name: each gets a results stream on
   * its leaf (capturing only that region's reports), sourced by the hub's results stream.
   */
  leafRegions?: readonly string[];
  /** The JetStream API of another domain (a leaf's), reached through the leaf link. */
  domainManager?: (domain: string) => Promise<JetStreamManager>;
}

const isNotFound = (err: unknown) => err instanceof JetStreamApiError && err.status === 404;

/**
 * The controller owns the JetStream topology (streams and consumers), so agents need only the narrow
 * permissions to pull their region's jobs and publish their region's reports.
 */
export class Topology {
  /** Region -> when its job consumer was last created or confirmed (ms). */
  private readonly regions = new Map<string, number>();
  constructor(private readonly opts: TopologyOptions) {}

  async ensureStreams(): Promise<void> {
    const { jsm, names } = this.opts;
    const dedup = nanos((this.opts.dedupWindowS ?? 600) * 1000);
    await this.upsertStream({
      name: names.jobsStream,
      subjects: [names.jobsAll],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: this.opts.replicas ?? 1,
      duplicate_window: dedup,
      max_age: nanos(24 * 3600 * 1000),
      // A flood of sweeps must not fill the disk: past the bound a new job is refused (the API says so).
      max_bytes: Math.floor((this.opts.jobsMaxMb ?? 256) * 1024 * 1024),
      discard: DiscardPolicy.New,
    });
    const leafRegions = this.opts.leafRegions ?? [];
    await this.upsertStream({
      name: names.resultsStream,
      subjects: [names.resultsAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.opts.replicas ?? 1,
      duplicate_window: dedup,
      max_age: nanos(this.opts.resultsMaxAgeH * 3600 * 1000),
      // Reports age out by time, and by size first if they come faster than expected.
      max_bytes: Math.floor((this.opts.resultsMaxMb ?? 2048) * 1024 * 1024),
      discard: DiscardPolicy.Old,
      // A leaf region's reports never reach this stream's subjects (its leaf link denies exporting them):
      // they are stored on the leaf and sourced from there. A source is a consumer that tracks the leaf's
      // sequence, so after a cut link it resumes where it stopped: every report once, none lost.
      ...(leafRegions.length
        ? {
            sources: leafRegions.map((region) => ({
              name: names.resultsStream,
              external: { api: `$JS.${region}.API`, deliver: '' },
            })),
          }
        : {}),
    });
    await jsm.consumers.add(names.resultsStream, {
      durable_name: names.ingestConsumer,
      // Cumulative acks: ingest handles reports in order and acks in batches (controller/ingest.ts).
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_ack_pending: 10_000,
    });
  }

  private async upsertStream(
    cfg: Parameters<JetStreamManager['streams']['add']>[0] & { name: string },
  ): Promise<void> {
    try {
      await this.opts.jsm.streams.info(cfg.name);
      await this.opts.jsm.streams.update(cfg.name, cfg);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.opts.jsm.streams.add(cfg);
      this.opts.logger.info({ stream: cfg.name }, 'created stream');
    }
  }

  /**
   * Creates (and keeps) each leaf region's results stream in the leaf's domain. A leaf unreachable now (link
   * down, leaf not started) is retried every retryMs, and streams are re-checked as often, so a leaf whose
   * store was wiped gets its stream back. Returns a stop function.
   */
  maintainLeafStreams(retryMs = 10_000): () => void {
    const regions = this.opts.leafRegions ?? [];
    const domainManager = this.opts.domainManager;
    if (!regions.length || !domainManager) return () => undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const ready = new Set<string>();
    const round = async () => {
      for (const region of regions) {
        if (stopped) return;
        try {
          await this.ensureLeafStream(await domainManager(region), region);
          if (!ready.has(region)) this.opts.logger.info({ region }, 'leaf results stream ready');
          ready.add(region);
        } catch (err) {
          ready.delete(region);
          this.opts.logger.warn(
            { region, err: (err as Error).message },
            'leaf results stream not reachable (leaf link down?); retrying',
          );
        }
      }
      if (!stopped) timer = setTimeout(() => void round(), retryMs);
    };
    void round();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  private async ensureLeafStream(jsm: JetStreamManager, region: string): Promise<void> {
    const { names } = this.opts;
    const cfg = {
      name: names.resultsStream,
      subjects: [`${names.prefix}.results.${region}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: 1,
      duplicate_window: nanos((this.opts.dedupWindowS ?? 600) * 1000),
      max_age: nanos(this.opts.resultsMaxAgeH * 3600 * 1000),
      // The same bound as the hub's stream: a region cut off for longer than it holds drops its oldest.
      max_bytes: Math.floor((this.opts.resultsMaxMb ?? 2048) * 1024 * 1024),
      discard: DiscardPolicy.Old,
    };
    try {
      const info = await jsm.streams.info(cfg.name);
      if (info.config.subjects?.join() !== cfg.subjects.join()) await jsm.streams.update(cfg.name, cfg);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.streams.add(cfg);
      this.opts.logger.info({ region, stream: cfg.name }, 'created leaf results stream');
    }
  }

  /**
   * One durable pull consumer per region, shared by that region's agents (a work queue), created only for a
   * known region (`known`: the caller has just heard from an agent of it) and removed by JetStream once idle
   * for jobConsumerIdleS. Called again (by a job for the region, or the fleet's periodic refresh) it is
   * re-created if JetStream removed it; a create with the same config is a no-op on the server, and the
   * answer is cached for a while so a sweep of many jobs costs one request. Returns whether it exists.
   */
  async ensureRegion(region: string, known = false): Promise<boolean> {
    const idleMs = (this.opts.jobConsumerIdleS ?? 3600) * 1000;
    const at = this.regions.get(region);
    if (at !== undefined && Date.now() - at < Math.min(60_000, idleMs / 4)) return true;
    if (!known && this.opts.isKnownRegion && !this.opts.isKnownRegion(region)) {
      this.opts.logger.debug({ region }, 'no job consumer for a region no agent has announced');
      return false;
    }
    const { jsm, names } = this.opts;
    await jsm.consumers.add(names.jobsStream, {
      durable_name: names.jobsConsumer(region),
      filter_subject: names.jobs(region),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos((this.opts.jobAckWaitS ?? 30) * 1000),
      max_deliver: 5,
      // Pull requests and acks are activity: a region with a live agent never reaches it.
      inactive_threshold: nanos(idleMs),
    });
    if (at === undefined) this.opts.logger.info({ region }, 'job consumer ready');
    this.regions.set(region, Date.now());
    return true;
  }
}

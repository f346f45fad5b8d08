import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import type { ReportCore } from '../../shared/report-core.js';
import type { Names } from '../../shared/subjects.js';
import { Aggregator } from '../aggregate/aggregator.js';
import { Ingest } from '../ingest.js';
import { LatestReports } from '../latest.js';
import type { ResultsReader } from '../results.js';
import type { PartitionSpec } from './hash.js';

/** What one partition holds on the replica that owns it: its windows and its last reports per cell. */
export interface PartitionState {
  spec: PartitionSpec;
  aggregator: Aggregator;
  latest: LatestReports;
  ingest: Ingest | undefined;
  /** Released (or lost) while it was being started: the start must not resume. */
  closed: boolean;
}

export interface PartitionOwnerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  results: ResultsReader;
  logger: Logger;
  specs: readonly PartitionSpec[];
  /** History replayed into a partition's windows when this replica takes it (controller.rebuildWindowS). */
  rebuildMs: number;
  labelsOf: (targetId: string) => Record<string, string> | undefined;
  /** Every report of an owned partition, once (sweeps progress, counters); `replayed` for history. */
  onReport: (r: ReportCore, replayed: boolean) => void;
  /** A partition given up (or lost): its per-series exports move to the new owner. */
  onReleased?: (id: string) => void;
}

/**
 * The partitions this replica ingests. Taking one rebuilds its windows from the stream (the previous owner
 * may have acked reports this replica never saw), then reads its durable consumer from the ack floor: what
 * the previous owner had not acked is redelivered, and the ids seen in the replay make it count once.
 * Giving one up stops its consumer first (its last acks are flushed) and drops its state, so a partition's
 * figures are never held by two replicas that both answer for it.
 */
export class PartitionOwner {
  readonly states = new Map<string, PartitionState>();
  private readonly specs: Map<string, PartitionSpec>;
  /** Ingest counters of partitions given up, so the replica's totals never go backwards. */
  private readonly retired = { ingested: 0, invalid: 0, redelivered: 0, mismatched: 0 };

  constructor(private readonly opts: PartitionOwnerOptions) {
    this.specs = new Map(opts.specs.map((s) => [s.id, s]));
  }

  /** Creates every partition's durable consumer that is missing (new consumers start an hour back). */
  async ensureConsumers(): Promise<void> {
    const { jsm, names } = this.opts;
    const existing = new Set<string>();
    for await (const c of jsm.consumers.list(names.resultsStream)) if (c?.name) existing.add(c.name);
    for (const spec of this.opts.specs) {
      if (existing.has(spec.consumer)) continue;
      try {
        await jsm.consumers.add(names.resultsStream, {
          durable_name: spec.consumer,
          filter_subject: spec.filter,
          ack_policy: AckPolicy.All,
          deliver_policy: DeliverPolicy.StartTime,
          opt_start_time: new Date(Date.now() - Math.max(this.opts.rebuildMs, 60_000)).toISOString(),
          ack_wait: nanos(30_000),
          max_ack_pending: 10_000,
        });
      } catch (err) {
        // Another replica starting at the same moment created it first (with its own start time): fine.
        await jsm.consumers.info(names.resultsStream, spec.consumer).catch(() => {
          throw err;
        });
      }
    }
  }

  async acquire(id: string): Promise<void> {
    const spec = this.specs.get(id);
    if (!spec) throw new Error(`unknown partition ${id}`);
    const state: PartitionState = {
      spec,
      aggregator: new Aggregator({ labelsOf: this.opts.labelsOf }),
      latest: new LatestReports(),
      ingest: undefined,
      closed: false,
    };
    this.states.set(id, state);
    let warned = false;
    const add = (r: ReportCore, replayed: boolean) => {
      if (spec.id === 'unmapped' && !warned) {
        warned = true;
        this.opts.logger.warn(
          { target: r.target.id, region: r.region },
          'a report without a partition token: the nats-server subject mapping is missing on a server agents publish to (docs/operations/scale-out.md); it is ingested, but by one replica',
        );
      }
      state.aggregator.add(r);
      state.latest.add(r);
      this.opts.onReport(r, replayed);
    };
    const ingest = new Ingest({
      js: this.opts.js,
      names: this.opts.names,
      logger: this.opts.logger.child({ partition: id }),
      consumer: spec.consumer,
      onReport: (r) => add(r, false),
    });
    const t0 = Date.now();
    const replayed = this.opts.rebuildMs
      ? await this.opts.results.replay(
          new Date(Date.now() - this.opts.rebuildMs),
          (r) => {
            add(r, true);
            ingest.remember(r.id);
          },
          spec.filter,
        )
      : 0;
    if (state.closed) return;
    state.ingest = ingest;
    await ingest.start();
    this.opts.logger.info({ partition: id, replayed, ms: Date.now() - t0 }, 'partition ingesting');
  }

  async release(id: string): Promise<void> {
    const state = this.states.get(id);
    if (!state) return;
    state.closed = true;
    this.states.delete(id);
    this.opts.onReleased?.(id);
    if (state.ingest) {
      await state.ingest.stop();
      for (const k of Object.keys(this.retired) as (keyof typeof this.retired)[])
        this.retired[k] += state.ingest.stats[k];
    }
  }

  /** Reports waiting in the consumers of the partitions this replica owns. */
  backlog(): number {
    let n = 0;
    for (const s of this.states.values()) n += s.ingest?.backlog ?? 0;
    return n;
  }

  /** Ingest counters over every partition this replica owns or owned (the /metrics ingest figures). */
  stats(): { ingested: number; invalid: number; redelivered: number; mismatched: number } {
    const out = { ...this.retired };
    for (const s of this.states.values())
      if (s.ingest) for (const k of Object.keys(out) as (keyof typeof out)[]) out[k] += s.ingest.stats[k];
    return out;
  }

  evict(): void {
    for (const s of this.states.values()) {
      s.aggregator.evict();
      s.latest.evict(Date.now() - 3_600_000);
    }
  }

  async stop(): Promise<void> {
    for (const id of [...this.states.keys()]) await this.release(id);
  }
}

import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { ResultsQuery } from '../shared/api.js';
import { parseReport } from '../shared/fast-parse.js';
import { decodeReportCore, type ReportCore } from '../shared/report-core.js';
import type { Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { subjectMismatch } from './ingest.js';
import { partitionOf } from './partition/hash.js';

export interface ResultsPage {
  reports: Report[];
  /** Pass as `cursor` to get the next page; absent when there is nothing more. */
  next?: number;
}

/**
 * Reads report history straight from the results stream (the source of truth, not a controller cache):
 * an ephemeral consumer filtered by region/target from `since`, fetching exactly what is pending.
 */
export class ResultsReader {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Names,
    /** controller.partitions: above 1 the server appends a target's partition to its report subjects. */
    private readonly partitions = 1,
  ) {}

  private filterFor(region?: string, target?: string): string {
    if (this.partitions <= 1) return this.names.resultsFilter(region, target);
    return target
      ? `${this.names.resultsFilter(region, target)}.${partitionOf(target, this.partitions)}`
      : // Every form: mapped (<region>.<agent>.<target>.<p>), unmapped (3 tokens) and legacy (2 tokens).
        `${this.names.prefix}.results.${region ?? '*'}.>`;
  }

  async query(q: ResultsQuery): Promise<ResultsPage> {
    const since = q.since ?? new Date(Date.now() - 3600_000).toISOString();
    const info = await this.jsm.consumers.add(this.names.resultsStream, {
      filter_subject: this.filterFor(q.region, q.target),
      ...(q.cursor
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: q.cursor }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since }),
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(30_000),
    });
    try {
      const want = Math.min(q.limit, info.num_pending);
      const reports: Report[] = [];
      let lastSeq = 0;
      if (want > 0) {
        const consumer = await this.js.consumers.get(this.names.resultsStream, info.name);
        const batch = await consumer.fetch({ max_messages: want, expires: 5000 });
        for await (const m of batch) {
          lastSeq = m.seq;
          try {
            const parsed = parseReport(decodeJson(m.data));
            // a report its subject does not vouch for (forged region / agent) is no result
            if (parsed.success && !subjectMismatch(m.subject, parsed.data)) reports.push(parsed.data);
          } catch {
            // skip what is not a report; ingest counted it already
          }
          if (reports.length >= want || m.info.pending === 0) break;
        }
      }
      return { reports, next: info.num_pending > want ? lastSeq + 1 : undefined };
    } finally {
      await this.jsm.consumers.delete(this.names.resultsStream, info.name).catch(() => undefined);
    }
  }

  /**
   * Streams every report since `since` to onReport (used to rebuild the aggregation windows after a
   * restart), decoded as ingest decodes it (its core, shared/report-core.ts): a report live ingest counted
   * is counted again after a restart, whatever its segment rows. Reads exactly the messages pending when
   * it starts; returns how many it delivered.
   */
  async replay(
    since: Date,
    onReport: (r: ReportCore) => void,
    filter = this.names.resultsAll,
  ): Promise<number> {
    const info = await this.jsm.consumers.add(this.names.resultsStream, {
      filter_subject: filter,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: since.toISOString(),
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(30_000),
    });
    let left = info.num_pending;
    let delivered = 0;
    try {
      if (left === 0) return 0;
      const consumer = await this.js.consumers.get(this.names.resultsStream, info.name);
      const messages = await consumer.consume({ max_messages: 1000 });
      for await (const m of messages) {
        left--;
        try {
          const { parsed } = decodeReportCore(m.data);
          if (parsed.success && !subjectMismatch(m.subject, parsed.data)) {
            onReport(parsed.data);
            delivered++;
          }
        } catch {
          // not JSON: ingest terminates and counts these; replay just skips them
        }
        if (left <= 0) break;
      }
      return delivered;
    } finally {
      await this.jsm.consumers.delete(this.names.resultsStream, info.name).catch(() => undefined);
    }
  }

  /**
   * Reports stored after stream sequence `seq` (the SSE feed's Last-Event-ID), in order, up to `max`; stops
   * early when `stopped()` says the client left. Returns how many were pending beyond `max` (0 = caught up).
   */
  async after(
    seq: number,
    filter: { target?: string },
    onReport: (r: Report, seq: number) => void,
    opts: { max: number; stopped: () => boolean },
  ): Promise<number> {
    const info = await this.jsm.consumers.add(this.names.resultsStream, {
      filter_subject: this.filterFor(undefined, filter.target),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq + 1,
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(30_000),
    });
    try {
      const want = Math.min(opts.max, info.num_pending);
      if (want === 0) return 0;
      const consumer = await this.js.consumers.get(this.names.resultsStream, info.name);
      let got = 0;
      while (got < want && !opts.stopped()) {
        const batch = await consumer.fetch({ max_messages: Math.min(500, want - got), expires: 5000 });
        let n = 0;
        for await (const m of batch) {
          n++;
          got++;
          try {
            const parsed = parseReport(decodeJson(m.data));
            if (parsed.success && !subjectMismatch(m.subject, parsed.data)) onReport(parsed.data, m.seq);
          } catch {
            // not a report: ingest counted it
          }
        }
        if (n === 0) break;
      }
      return Math.max(0, info.num_pending - got);
    } finally {
      await this.jsm.consumers.delete(this.names.resultsStream, info.name).catch(() => undefined);
    }
  }
}

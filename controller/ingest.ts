import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { parseReport } from '../shared/fast-parse.js';
import type { Logger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';

/** Ack after this many reports, or ACK_IDLE_MS after the last one, whichever comes first. */
const ACK_BATCH = 200;
const ACK_IDLE_MS = 20;

export interface IngestOptions {
  js: JetStreamClient;
  names: Names;
  logger: Logger;
  /** Called once per distinct report id, in stream order, with its results-stream sequence. */
  onReport: (report: Report, seq: number) => void;
  /** Report ids remembered to make redelivery (after a controller crash) idempotent. */
  rememberIds?: number;
  /** Durable consumer to read (default: the shared `names.ingestConsumer`; a partition's own: controller/partition/). */
  consumer?: string;
}

/**
 * Durable pull consumer on the results stream. A report is acked only after every handler ran, so a
 * controller killed mid-ingest gets it redelivered; remembered ids make that redelivery count once.
 * A malformed report is counted, logged and acked past (never redelivered), never crashes the loop.
 */
export class Ingest {
  /** `mismatched` (also counted in `invalid`): the body's region or agent disagrees with the subject. */
  readonly stats = { ingested: 0, invalid: 0, redelivered: 0, mismatched: 0 };
  private readonly seen = new Set<string>();
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private flush: () => void = () => undefined;

  constructor(private readonly opts: IngestOptions) {}

  async start(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(
      this.opts.names.resultsStream,
      this.opts.consumer ?? this.opts.names.ingestConsumer,
    );
    // A short pull expiry: if the consumer's leader moves (a cluster node dies), ingest notices in seconds.
    this.messages = await consumer.consume({ max_messages: 500, expires: 5000 });
    const messages = this.messages;
    let pending: JsMsg | undefined;
    let unacked = 0;
    let timer: NodeJS.Timeout | undefined;
    // The consumer acks cumulatively (AckPolicy.All): acking message N acks everything before it. The loop
    // handles messages strictly in order, so one ack per batch (or after a short idle) is as safe as one
    // per message — and a per-message ack was a socket write per report, the largest ingest cost.
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending?.ack();
      pending = undefined;
      unacked = 0;
    };
    const done = (msg: JsMsg) => {
      pending = msg;
      if (++unacked >= ACK_BATCH) flush();
      else timer ??= setTimeout(flush, ACK_IDLE_MS);
    };
    this.flush = flush;
    this.loop = (async () => {
      for await (const msg of messages) {
        let report: Report;
        try {
          const parsed = parseReport(decodeJson(msg.data));
          if (!parsed.success) {
            this.stats.invalid++;
            this.opts.logger.warn(
              { subject: msg.subject, seq: msg.seq, issues: parsed.error.issues.slice(0, 5) },
              'malformed report; skipped',
            );
            done(msg);
            continue;
          }
          report = parsed.data;
          const claim = subjectMismatch(msg.subject, report);
          if (claim) {
            // A report for another region or agent than the one its subject (and so the publisher's NATS
            // permissions) vouches for: a compromised or misconfigured agent, never ingested.
            this.stats.invalid++;
            this.stats.mismatched++;
            this.opts.logger.warn(
              { subject: msg.subject, seq: msg.seq, region: report.region, agentId: report.agentId, claim },
              'report body disagrees with its subject; dropped',
            );
            done(msg);
            continue;
          }
        } catch {
          this.stats.invalid++;
          this.opts.logger.warn({ subject: msg.subject, seq: msg.seq }, 'report is not JSON; skipped');
          done(msg);
          continue;
        }
        if (this.seen.has(report.id)) {
          this.stats.redelivered++;
          done(msg);
          continue;
        }
        try {
          this.opts.onReport(report, msg.seq);
        } catch (err) {
          this.opts.logger.error({ err, reportId: report.id }, 'report handler failed');
        }
        this.remember(report.id);
        this.stats.ingested++;
        done(msg);
      }
      flush();
    })();
  }

  /** Marks a report as already handled (replayed at start-up), so its redelivery is not counted twice. */
  remember(id: string): void {
    this.seen.add(id);
    const max = this.opts.rememberIds ?? 100_000;
    if (this.seen.size > max) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  async stop(): Promise<void> {
    this.messages?.stop();
    await this.loop;
    this.flush();
  }
}

/**
 * `<prefix>.results.<region>.<agent>.<target>`: which of region, agent or target the body contradicts.
 * A subject of the older 4-token form (`<prefix>.results.<region>.<target>`, spooled before an upgrade) is
 * held to its region and target only.
 */
export function subjectMismatch(subject: string, r: Report): string | undefined {
  // The prefix is one subject token (nats.prefix is a SubjectToken).
  const t = subject.split('.');
  if (t[1] !== 'results') return 'subject';
  const rest = t.slice(2);
  // A partitioned deployment's server appends the target's partition (`{{partition(n,3)}}`): R.A.T.<p>.
  if (rest.length === 4 && /^\d+$/.test(rest[3] as string)) rest.pop();
  if (rest[0] !== r.region) return 'region';
  if (rest.length === 3 && rest[1] !== r.agentId) return 'agent';
  if (rest[rest.length - 1] !== r.target.id) return 'target';
  return rest.length === 2 || rest.length === 3 ? undefined : 'subject';
}

import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../shared/log.js';
import { Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';

export interface IngestOptions {
  js: JetStreamClient;
  names: Names;
  logger: Logger;
  /** Called once per distinct report id, in stream order. */
  onReport: (report: Report) => void;
  /** Report ids remembered to make redelivery (after a controller crash) idempotent. */
  rememberIds?: number;
}

/**
 * Durable pull consumer on the results stream. A report is acked only after every handler ran, so a
 * controller killed mid-ingest gets it redelivered; remembered ids make that redelivery count once.
 * A malformed report is terminated (never redelivered) and counted, never crashes the loop.
 */
export class Ingest {
  readonly stats = { ingested: 0, invalid: 0, redelivered: 0 };
  private readonly seen = new Set<string>();
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: IngestOptions) {}

  async start(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(
      this.opts.names.resultsStream,
      this.opts.names.ingestConsumer,
    );
    this.messages = await consumer.consume({ max_messages: 500 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const msg of messages) {
        let report: Report;
        try {
          const parsed = Report.safeParse(decodeJson(msg.data));
          if (!parsed.success) {
            this.stats.invalid++;
            this.opts.logger.warn(
              { subject: msg.subject, seq: msg.seq, issues: parsed.error.issues.slice(0, 5) },
              'malformed report; terminated',
            );
            msg.term();
            continue;
          }
          report = parsed.data;
        } catch {
          this.stats.invalid++;
          this.opts.logger.warn({ subject: msg.subject, seq: msg.seq }, 'report is not JSON; terminated');
          msg.term();
          continue;
        }
        if (this.seen.has(report.id)) {
          this.stats.redelivered++;
          msg.ack();
          continue;
        }
        try {
          this.opts.onReport(report);
        } catch (err) {
          this.opts.logger.error({ err, reportId: report.id }, 'report handler failed');
        }
        this.remember(report.id);
        this.stats.ingested++;
        msg.ack();
      }
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
  }
}

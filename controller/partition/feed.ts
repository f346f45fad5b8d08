import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { parseReport } from '../../shared/fast-parse.js';
import type { Logger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import type { Names } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { subjectMismatch } from '../ingest.js';

/**
 * The live feed of a partitioned replica: every new report, whoever ingests it, so `/v1/events` on any
 * replica carries the whole fleet. An ordered consumer from "now" (no acks, no durable state, nothing
 * replayed): it keeps the stream sequence, which is the SSE event id a client resumes from.
 */
export class LiveFeed {
  private stopFn: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly opts: {
      js: JetStreamClient;
      names: Names;
      logger: Logger;
      onReport: (r: Report, seq: number) => void;
      /**
       * Whether anyone here needs the reports now (an open /v1/events stream, the alerting lease): when not,
       * a message is skipped undecoded, so k replicas do not each pay for decoding the whole fleet.
       */
      wanted?: () => boolean;
    },
  ) {}

  async start(): Promise<void> {
    const { js, names } = this.opts;
    const consumer = await js.consumers.get(names.resultsStream, {
      filter_subjects: names.resultsAll,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    this.stopFn = () => messages.stop();
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.opts.wanted && !this.opts.wanted()) continue;
        try {
          const parsed = parseReport(decodeJson(m.data));
          if (parsed.success && !subjectMismatch(m.subject, parsed.data))
            this.opts.onReport(parsed.data, m.seq);
        } catch {
          // not a report: the owning partition's ingest counts it
        }
      }
    })().catch((err) => this.opts.logger.error({ err }, 'live feed stopped'));
  }

  async stop(): Promise<void> {
    this.stopFn?.();
    await this.loop;
  }
}

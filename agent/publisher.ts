import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../shared/log.js';
import { Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';

export interface Publisher {
  publish(report: Report): Promise<void>;
}

export interface JetStreamPublisherOptions {
  js: JetStreamClient;
  names: Names;
  logger: Logger;
  /** Give up after this long; the caller then leaves the job unacked so it is redelivered. */
  maxWaitMs?: number;
}

/**
 * Publishes a report with Nats-Msg-Id = report.id (`<jobId>:<seq>`), so a retry after a lost ack is
 * deduplicated by the stream instead of counted twice. Retries with capped exponential backoff.
 */
export class JetStreamPublisher implements Publisher {
  readonly stats = { published: 0, duplicates: 0, retries: 0 };
  constructor(private readonly opts: JetStreamPublisherOptions) {}

  async publish(report: Report): Promise<void> {
    // Validate here too: a malformed report must fail on the agent, loudly, not poison the controller.
    const checked = Report.parse(report);
    const subject = this.opts.names.results(checked.region, checked.target.id);
    const data = encodeJson(checked);
    const deadline = Date.now() + (this.opts.maxWaitMs ?? 60_000);
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.opts.js.publish(subject, data, { msgID: checked.id, timeout: 5000 });
        if (ack.duplicate) this.stats.duplicates++;
        else this.stats.published++;
        return;
      } catch (err) {
        if (Date.now() + delay > deadline) throw err;
        this.stats.retries++;
        this.opts.logger.warn(
          { err: (err as Error).message, attempt, reportId: checked.id },
          'publish failed, retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}

import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import { Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import type { Spool, SpoolEntry } from './spool.js';

/** Where a report ended up: stored in JetStream (or found there already), or durably in the local spool. */
export type PublishOutcome = 'stored' | 'duplicate' | 'spooled';

export interface Publisher {
  /** Resolves once the report is safe (stream or spool); rejects with ReportDroppedError otherwise. */
  publish(report: Report): Promise<PublishOutcome>;
}

/** The report could be neither stored nor spooled; it was counted as dropped and logged. */
export class ReportDroppedError extends Error {
  override readonly name = 'ReportDroppedError';
}

export interface PublisherStats {
  /** Reports stored by JetStream (direct or replayed). */
  published: number;
  /** Publishes JetStream recognised as already stored (same Nats-Msg-Id in the duplicate window). */
  duplicates: number;
  /** Failed publish attempts that were retried. */
  retries: number;
  /** Reports written to the spool. */
  spooled: number;
  /** Spooled reports later stored. */
  replayed: number;
  /** Reports lost to this agent: spool full (the job is handed back) or rejected by the stream as invalid. */
  dropped: number;
  spoolDepth: number;
  spoolBytes: number;
}

export interface JetStreamPublisherOptions {
  js: JetStreamClient;
  /** For connection status: while disconnected, reports go straight to the spool. */
  nc?: NatsConnection;
  names: Names;
  logger: Logger;
  /** Without a spool a report that cannot be stored within maxWaitMs is dropped (and its job handed back). */
  spool?: Spool;
  /** Wait for the stream's ack this long per attempt. Default 5 s. */
  ackTimeoutMs?: number;
  /** Retry a direct publish (backoff 250 ms doubling to 5 s) for this long before spooling. Default 15 s. */
  maxWaitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spooled reports published at once during a replay (acks awaited together). */
const REPLAY_WINDOW = 64;

/**
 * A stream that answers 400 (e.g. message too large) will never take this report: retrying or spooling it
 * would only block the reports behind it. Everything else (timeouts, no responders, 503 while a cluster
 * elects a leader, a dropped connection) is worth waiting out.
 */
function isPermanent(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.status === 400;
}

/**
 * Ships reports to JetStream with Nats-Msg-Id = report.id (`<jobId>:<seq>`), so any retry — a lost ack, a
 * replay from the spool, a job re-run after redelivery — is deduplicated by the stream, never stored twice.
 *
 * Direct path: publish, wait for the ack, retry with capped exponential backoff for up to maxWaitMs.
 * Outage path: while NATS is unreachable (or the direct path gave up) reports go to the on-disk spool; once
 * connected again a single replay loop publishes the spool oldest-first with the same msg ids. While the
 * spool is not empty new reports queue behind it, so reports reach the stream in the order they were made.
 */
export class JetStreamPublisher implements Publisher {
  private readonly counts = { published: 0, duplicates: 0, retries: 0, spooled: 0, replayed: 0, dropped: 0 };
  private online = true;
  private stopped = false;
  private wake: (() => void) | undefined;
  private replayer: Promise<void> | undefined;
  private readonly idle: Array<() => void> = [];

  constructor(private readonly opts: JetStreamPublisherOptions) {}

  /** False between a disconnect and the next reconnect. */
  get connected(): boolean {
    return this.online;
  }

  get stats(): PublisherStats {
    const s = this.opts.spool?.stats();
    return { ...this.counts, spoolDepth: s?.depth ?? 0, spoolBytes: s?.bytes ?? 0 };
  }

  /** Starts following the connection status and the replay loop (replays a spool left by a previous run). */
  start(): void {
    const nc = this.opts.nc;
    if (nc) {
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') this.online = false;
          else if (s.type === 'reconnect') {
            this.online = true;
            this.kick();
          }
        }
      })();
    }
    if (this.opts.spool) this.replayer = this.replayLoop();
  }

  async publish(report: Report): Promise<PublishOutcome> {
    // Validate here too: a malformed report must fail on the agent, loudly, not poison the controller.
    const checked = Report.parse(report);
    const subject = this.opts.names.results(checked.region, checked.agentId, checked.target.id);
    const data = JSON.stringify(checked);
    const spool = this.opts.spool;
    if (spool && (spool.depth > 0 || !this.online)) return this.toSpool(subject, checked.id, data);

    const deadline = Date.now() + (this.opts.maxWaitMs ?? 15_000);
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(subject, checked.id, data);
      } catch (err) {
        if (isPermanent(err))
          return this.drop(checked.id, `rejected by the stream: ${(err as Error).message}`);
        const giveUp = Date.now() + delay > deadline || (spool !== undefined && !this.online);
        if (giveUp) {
          if (spool) return this.toSpool(subject, checked.id, data);
          return this.drop(checked.id, `not stored within the publish budget: ${(err as Error).message}`);
        }
        this.counts.retries++;
        this.opts.logger.warn(
          { err: (err as Error).message, attempt, reportId: checked.id },
          'publish failed, retrying',
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Resolves when the spool is empty, or after timeoutMs (false). */
  async flush(timeoutMs: number): Promise<boolean> {
    const spool = this.opts.spool;
    if (!spool || spool.depth === 0) return true;
    this.kick();
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => this.idle.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.replayer;
    this.opts.spool?.close();
    const s = this.stats;
    if (s.spoolDepth > 0) {
      this.opts.logger.warn(
        { reports: s.spoolDepth },
        'stopping with reports still spooled; they are replayed at the next start',
      );
    }
  }

  private async send(subject: string, msgId: string, data: string): Promise<'stored' | 'duplicate'> {
    const ack = await this.opts.js.publish(subject, data, {
      msgID: msgId,
      timeout: this.opts.ackTimeoutMs ?? 5000,
    });
    if (ack.duplicate) {
      this.counts.duplicates++;
      return 'duplicate';
    }
    this.counts.published++;
    return 'stored';
  }

  private toSpool(subject: string, msgId: string, data: string): PublishOutcome {
    const spool = this.opts.spool as Spool;
    if (!spool.append({ subject, msgId, data })) {
      return this.drop(msgId, 'spool full or its disk refused the write');
    }
    this.counts.spooled++;
    if (spool.depth === 1 || spool.depth % 100 === 0) {
      this.opts.logger.warn(
        { reportId: msgId, spoolDepth: spool.depth, spoolBytes: spool.stats().bytes },
        'NATS unreachable: report spooled to disk',
      );
    }
    this.kick();
    return 'spooled';
  }

  private drop(reportId: string, reason: string): never {
    this.counts.dropped++;
    this.opts.logger.error({ reportId, reason, dropped: this.counts.dropped }, 'report dropped');
    throw new ReportDroppedError(`report ${reportId} dropped: ${reason}`);
  }

  private kick(): void {
    this.wake?.();
    this.wake = undefined;
  }

  private async replayLoop(): Promise<void> {
    const spool = this.opts.spool as Spool;
    let delay = 250;
    while (!this.stopped) {
      const entry = spool.peek();
      if (!entry || !this.online) {
        if (!entry) for (const f of this.idle.splice(0)) f();
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          // Also poll now and then: a reconnect event can race a disconnect we never saw.
          setTimeout(resolve, 2000).unref();
        });
        continue;
      }
      // A window of publishes in flight, acks awaited together: one at a time, a 100 ms round trip would cap
      // the replay at 10 reports/s, slower than an agent with many watches makes new ones (which queue
      // behind the spool), so it would never catch up. Msg ids make a resend after a partial failure safe.
      const batch = spool.peekBatch(REPLAY_WINDOW);
      const results = await Promise.allSettled(batch.map((e) => this.send(e.subject, e.msgId, e.data)));
      let failed: unknown;
      for (let i = 0; i < results.length; i++) {
        const r = results[i] as PromiseSettledResult<'stored' | 'duplicate'>;
        const e = batch[i] as SpoolEntry;
        if (r.status === 'fulfilled') {
          spool.commit();
          this.counts.replayed++;
        } else if (isPermanent(r.reason)) {
          spool.commit();
          this.counts.dropped++;
          this.opts.logger.error(
            { reportId: e.msgId, err: (r.reason as Error).message, dropped: this.counts.dropped },
            'spooled report rejected by the stream; dropped',
          );
        } else {
          // keep order: this one and everything after it go again
          failed = r.reason;
          break;
        }
      }
      if (failed === undefined) {
        delay = 250;
        if (spool.depth === 0) this.opts.logger.info({ replayed: this.counts.replayed }, 'spool replayed');
      } else {
        this.counts.retries++;
        this.opts.logger.warn(
          { err: (failed as Error).message, spoolDepth: spool.depth },
          'spool replay failed; backing off',
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}

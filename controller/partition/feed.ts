import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { parseReport } from '../../shared/fast-parse.js';
import type { Logger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import type { Names } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { subjectMismatch } from '../ingest.js';

/** How often the feed checks whether it is wanted (a new SSE client waits at most this for its first report). */
const CHECK_MS = 250;
/** Unwanted this long, the consumer is stopped (a client reconnecting at once does not restart it). */
const LINGER_MS = 5000;

/**
 * The live feed of a partitioned replica: every new report, whoever ingests it, so `/v1/events` on any
 * replica carries the whole fleet. An ordered consumer from "now" (no acks, no durable state, nothing
 * replayed): it keeps the stream sequence, which is the SSE event id a client resumes from.
 *
 * The consumer exists only while someone here wants the reports (an open `/v1/events` stream): receiving
 * the whole fleet's reports only to skip them would cost every replica a share of ingest (k replicas would
 * each pay for the full rate), which is what scaling out must avoid.
 */
export class LiveFeed {
  private stopFn: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unwantedSince: number | undefined;
  private switching: Promise<void> = Promise.resolve();
  private stopped = false;
  /**
   * When the first listener of the next consumer arrived (poke): it starts from then, so its first reports
   * are not missed. Only set while no consumer runs, cleared once one does: never a time from before it.
   */
  private wantedAt: number | undefined;
  /** A close is queued: the running consumer is about to stop, a listener arriving now needs the next one. */
  private closing = false;
  /** Times the consumer was started (tests, logs). */
  readonly stats = { starts: 0, stops: 0 };

  constructor(
    private readonly opts: {
      js: JetStreamClient;
      names: Names;
      logger: Logger;
      onReport: (r: Report, seq: number) => void;
      /** Whether anyone here needs the reports now; unset = always. */
      wanted?: () => boolean;
    },
  ) {}

  /** Whether the consumer runs now. */
  get running(): boolean {
    return this.stopFn !== undefined;
  }

  async start(): Promise<void> {
    if (!this.opts.wanted) {
      await this.open();
      return;
    }
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
    this.check();
    await this.switching;
  }

  /**
   * Someone may want the feed from now on (a listener is being added): checked at once, and the consumer,
   * if it opens, starts at this moment rather than when it is created.
   */
  poke(): void {
    // A running consumer already delivers this listener's reports.
    if (!this.running || this.closing) this.wantedAt ??= Date.now();
    setImmediate(() => this.check());
  }

  /** Opens or closes the consumer as wanted (serialised: one switch at a time). */
  private check(): void {
    const wanted = this.opts.wanted?.() ?? true;
    const now = Date.now();
    if (wanted) this.unwantedSince = undefined;
    else {
      this.unwantedSince ??= now;
      if (!this.running) this.wantedAt = undefined;
    }
    const open = wanted && !this.running;
    const close = !wanted && this.running && now - (this.unwantedSince ?? now) >= LINGER_MS;
    if (!open && !close) return;
    if (close) this.closing = true;
    this.switching = this.switching
      .then(() => (this.stopped ? undefined : open ? this.open() : this.close()))
      .catch((err) => this.opts.logger.warn({ err: (err as Error).message }, 'live feed switch failed'));
  }

  private async open(): Promise<void> {
    if (this.running) return;
    const { js, names } = this.opts;
    const from = this.wantedAt;
    this.wantedAt = undefined;
    const consumer = await js.consumers.get(names.resultsStream, {
      filter_subjects: names.resultsAll,
      // From the moment a listener arrived (a little earlier: the server's clock is not ours), else new.
      ...(from === undefined
        ? { deliver_policy: DeliverPolicy.New }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(from - 250).toISOString() }),
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    this.stopFn = () => {
      messages.stop();
      // Stopped, an ordered consumer would linger on the server until its inactivity threshold (5 min).
      void consumer.delete().catch(() => undefined);
    };
    // Listeners that arrived while it was being created are served by it from `from` on.
    this.wantedAt = undefined;
    this.stats.starts++;
    this.opts.logger.debug('live feed on');
    this.loop = (async () => {
      for await (const m of messages) {
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

  private async close(): Promise<void> {
    this.closing = false;
    const stop = this.stopFn;
    if (!stop) return;
    this.stopFn = undefined;
    stop();
    await this.loop;
    this.loop = undefined;
    this.stats.stops++;
    this.opts.logger.debug('live feed off: nobody listens');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.switching;
    await this.close();
  }
}

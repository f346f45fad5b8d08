/**
 * Every report, for alerting, when several controller replicas run. The replicas share one durable ingest
 * consumer, so each replica's windows hold only the reports it happened to ingest — a lease holder could
 * evaluate half the fleet, or none of it. With peers present, each replica therefore also follows the whole
 * results stream with an ordered consumer (replaying the longest rule window first) into windows of its
 * own. A single controller never pays for this: it alerts from the ingest windows.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { parseReport } from '../../shared/fast-parse.js';
import type { Logger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import type { Names } from '../../shared/subjects.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';
import { Aggregator } from '../aggregate/aggregator.js';
import { subjectMismatch } from '../ingest.js';

export interface FeedOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  logger: Logger;
  /** History replayed first, ms (the longest window rules use). */
  replayMs: number;
  onReport: (r: Report) => void;
}

export class ReportFeed {
  readonly aggregator = new Aggregator();
  /** True once the replay reached the end of the stream: the windows are complete from here on. */
  ready = false;
  private stopFn: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private evictTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FeedOptions) {}

  async start(): Promise<void> {
    const { js, names } = this.opts;
    const consumer = await js.consumers.get(names.resultsStream, {
      filter_subjects: names.resultsAll,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - this.opts.replayMs).toISOString(),
    });
    if ((await consumer.info()).num_pending === 0) this.ready = true;
    const messages = await consumer.consume({ max_messages: 1000 });
    this.stopFn = () => messages.stop();
    this.evictTimer = setInterval(() => this.aggregator.evict(), 30_000);
    const t0 = Date.now();
    this.loop = (async () => {
      let n = 0;
      for await (const m of messages) {
        try {
          const parsed = parseReport(decodeJson(m.data));
          if (parsed.success && !subjectMismatch(m.subject, parsed.data)) {
            this.aggregator.add(parsed.data);
            this.opts.onReport(parsed.data);
          }
        } catch {
          // not JSON: ingest counts these
        }
        n++;
        if (!this.ready && m.info.pending === 0) {
          this.ready = true;
          this.opts.logger.info(
            { replayed: n, ms: Date.now() - t0 },
            'alerting feed caught up with the results stream',
          );
        }
      }
    })();
  }

  async stop(): Promise<void> {
    if (this.evictTimer) clearInterval(this.evictTimer);
    this.stopFn?.();
    await this.loop;
  }
}

/** Replicas announce themselves in the TTL'd leases bucket; each counts the others. */
export class Presence {
  private timer: NodeJS.Timeout | undefined;
  private peersSeen = 0;

  constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly onPeers: (peers: number) => void,
    private readonly everyMs = 2000,
  ) {}

  get peers(): number {
    return this.peersSeen;
  }

  start(): void {
    const tick = async () => {
      try {
        await this.kv.put(`replica.${this.holder}`, encodeJson({ at: Date.now() }));
        let n = 0;
        for await (const k of await this.kv.keys('replica.>')) if (k !== `replica.${this.holder}`) n++;
        this.peersSeen = n;
        this.onPeers(n);
      } catch {
        // NATS away: try again next tick
      }
    };
    void tick();
    this.timer = setInterval(() => void tick(), this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.kv.delete(`replica.${this.holder}`).catch(() => undefined);
  }
}

/**
 * Stage 7, notify: one queue per receiver (a receiver that hangs or fails delays nobody else), each
 * notification claimed in the notification log before it is sent (two replicas, or a replica and its own
 * restart, never send the same thing twice), retried with capped exponential backoff up to max_elapsed.
 */
import type { Logger } from '../../shared/log.js';
import type { Receiver } from './config.js';
import type { Notification, PlannedItem } from './group.js';
import type { Fetch } from './notifiers/http.js';
import { NotifyError, notifierFor, type OutAlert, type Outgoing } from './notifiers/index.js';
import { withLinks } from './notifiers/links.js';
import type { NotificationRecord } from './schema.js';
import { durationMs } from './schema.js';

/** Where claims and outcomes are recorded (alerting/notify-log.ts over KV; a Map in tests). */
export interface ClaimLog {
  /** True when this replica now owns the notification (nobody sent or is sending it). */
  claim(key: string, rec: NotificationRecord): Promise<boolean>;
  record(key: string, patch: Partial<NotificationRecord>): Promise<void>;
}

export interface DispatcherOptions {
  log: ClaimLog;
  logger: Logger;
  holder: string;
  fetch?: Fetch;
  /** The controller's URL (known once the API listens), for links back. */
  externalUrl?: () => string | undefined;
  /** Notifications queued per receiver before new ones are dropped (they are planned again later). */
  maxQueue?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called after a notification was delivered. */
  onSent?: (n: Notification, items: PlannedItem[], attempts: number) => void;
  onFailed?: (n: Notification, items: PlannedItem[], err: Error) => void;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toOutgoing(n: Notification, items: PlannedItem[]): Outgoing {
  const alerts: OutAlert[] = items.map(({ alert, what }) => ({
    fingerprint: alert.id,
    status: what === 'resolved' ? 'resolved' : 'firing',
    repeat: what.startsWith('firing-r'),
    labels: alert.labels,
    annotations: alert.annotations,
    starts_at: alert.fired_at ?? alert.active_at,
    ...(what === 'resolved' && alert.resolved_at ? { ends_at: alert.resolved_at } : {}),
    value: alert.value,
    threshold: alert.threshold,
    evidence: alert.evidence,
  }));
  return {
    receiver: n.receiver.name,
    group_key: n.groupKey,
    group_labels: n.groupLabels,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts,
  };
}

export class Dispatcher {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly depth = new Map<string, number>();
  /** Keys queued or being sent: the planner must not plan them again meanwhile. */
  readonly inflight = new Set<string>();
  private readonly abort = new AbortController();

  constructor(private readonly opts: DispatcherOptions) {}

  /** Queues a notification on its receiver's queue; returns at once. */
  dispatch(n: Notification): void {
    const name = n.receiver.name;
    const depth = this.depth.get(name) ?? 0;
    if (depth >= (this.opts.maxQueue ?? 1000)) {
      this.opts.logger.error({ receiver: name, depth }, 'receiver queue full; notification dropped for now');
      return;
    }
    for (const i of n.items) this.inflight.add(i.key);
    this.depth.set(name, depth + 1);
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev
      .then(() => this.deliver(n))
      .catch((err) => this.opts.logger.error({ err, receiver: name }, 'notification failed unexpectedly'))
      .finally(() => {
        for (const i of n.items) this.inflight.delete(i.key);
        this.depth.set(name, (this.depth.get(name) ?? 1) - 1);
        if (this.queues.get(name) === next) this.queues.delete(name);
      });
    this.queues.set(name, next);
  }

  /** Resolves when every queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size) await Promise.all([...this.queues.values()]);
  }

  /** Aborts sends in flight and retries waiting; what was not sent stays unsent in the log. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }

  private async deliver(n: Notification): Promise<void> {
    if (this.abort.signal.aborted) return;
    const r = n.receiver;
    const claimed: PlannedItem[] = [];
    for (const item of n.items) {
      const ok = await this.opts.log.claim(item.key, {
        receiver: r.name,
        kind: r.kind,
        what: item.what,
        claimed_at: iso(Date.now()),
        attempts: 0,
        holder: this.opts.holder,
      });
      if (ok) claimed.push(item);
    }
    if (claimed.length === 0) return;
    const out = toOutgoing(n, claimed);
    const started = Date.now();
    const maxElapsed = durationMs(r.retry.max_elapsed);
    let backoff = durationMs(r.retry.initial_backoff);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sendOnce(r, out);
        const sentAt = iso(Date.now());
        await Promise.all(
          claimed.map((i) => this.opts.log.record(i.key, { sent_at: sentAt, attempts: attempt })),
        );
        this.opts.logger.info(
          {
            receiver: r.name,
            kind: r.kind,
            alerts: claimed.map((i) => `${i.alert.rule}:${i.what}`),
            attempt,
          },
          'notification sent',
        );
        this.opts.onSent?.(n, claimed, attempt);
        return;
      } catch (err) {
        const e = err as Error;
        const retryable = !(e instanceof NotifyError) || e.retryable;
        const wait = backoff * (0.8 + Math.random() * 0.4);
        const giveUp = !retryable || this.abort.signal.aborted || Date.now() - started + wait > maxElapsed;
        this.opts.logger.warn(
          { receiver: r.name, kind: r.kind, attempt, error: e.message, retrying: !giveUp },
          'notification attempt failed',
        );
        if (giveUp) {
          await Promise.all(
            claimed.map((i) =>
              this.opts.log.record(i.key, { attempts: attempt, error: e.message.slice(0, 500) }),
            ),
          );
          this.opts.logger.error(
            { receiver: r.name, kind: r.kind, error: e.message },
            'notification given up',
          );
          this.opts.onFailed?.(n, claimed, e);
          return;
        }
        await (this.opts.sleep ?? this.sleep)(wait);
        backoff = Math.min(backoff * 2, durationMs(r.retry.max_backoff));
      }
    }
  }

  private sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });

  private async sendOnce(r: Receiver, out: Outgoing): Promise<void> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(durationMs(r.retry.timeout))]);
    const externalUrl = this.opts.externalUrl?.();
    await notifierFor(r).send(r, withLinks(out, externalUrl), {
      fetch: this.opts.fetch ?? fetch,
      signal,
      now: Date.now(),
      externalUrl,
    });
  }
}

import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { type Logger, redactUrl } from '../shared/log.js';
import { Job, type ProbeResult, type Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { VERSION } from '../shared/version.js';
import { type Publisher, ReportDroppedError } from './publisher.js';
import type { Runner } from './runner.js';

export interface UpdaterOptions {
  js: JetStreamClient;
  names: Names;
  region: string;
  agentId: string;
  runner: Runner;
  publisher: Publisher;
  logger: Logger;
  /** Extra time past durationS before a job is aborted (its probe then returns what it measured). */
  graceMs?: number;
  /**
   * How often a long job tells JetStream it is still alive. Default: a third of the consumer's ack wait
   * (read from the consumer), so a live agent never loses its job and a dead one loses it within one ack wait.
   */
  workingEveryMs?: number;
  clockOffsetMs?: () => number | undefined;
  /** Reports whose clock_uncertainty_ms is above this are flagged clock-suspect. */
  clockUncertaintyMaxMs?: number;
}

interface Inflight {
  job: Job;
  abort: AbortController;
  /** Set when the agent gives the job back (drain grace over): nak instead of reporting a truncated run. */
  handBack: boolean;
  done: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A job delivered this many times without a report is recognised as one that crashed or stalled the agents
 * that took it (the job consumers allow 5 deliveries): the agent reports it as a probe-error and terms it.
 */
export const POISON_DELIVERIES = 3;

/** Report ids this agent already stored or spooled: a redelivered job (its ack was lost) is acked, not re-run. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const first = this.ids.values().next().value;
      if (first !== undefined) this.ids.delete(first);
    }
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
}

/**
 * Takes jobs from the region's work queue, one pull per free slot: an agent at capacity pulls nothing, so
 * the queue hands work to agents that can start it now. A job is acked only once its report is safe (stored
 * in JetStream or spooled on disk); a job that cannot finish is nak'ed, and JetStream redelivers it — to
 * this agent or another of the region — as it does when an agent dies mid-job and its ack wait runs out.
 */
export class Updater {
  private stopped = false;
  private paused = false;
  private readonly inflight = new Map<string, Inflight>();
  private wakeLoop: (() => void) | undefined;
  private pull: ConsumerMessages | undefined;
  /** A job that arrived for a kind with no free slot: held (working()) until one frees, pulling nothing more. */
  private parked: { job: Job; msg: JsMsg; working: NodeJS.Timeout } | undefined;
  private loop: Promise<void> | undefined;
  private workingEveryMs: number;
  private readonly reported = new RecentIds(1000);
  readonly stats = { started: 0, completed: 0, handedBack: 0, expired: 0, alreadyReported: 0, poisoned: 0 };
  private readonly cancelledSweeps = new Set<string>();

  constructor(private readonly opts: UpdaterOptions) {
    this.workingEveryMs = opts.workingEveryMs ?? 10_000;
  }

  runningJobs(): string[] {
    return [...this.inflight.keys()];
  }

  /** True while the agent takes no new jobs (drained, or stopping). */
  get draining(): boolean {
    return this.paused || this.stopped;
  }

  start(): void {
    this.loop = this.pullLoop();
  }

  /** Stop taking jobs; running ones finish. Reversible with resume(). */
  pause(): void {
    this.paused = true;
    this.pull?.stop();
    this.unpark();
  }

  resume(): void {
    if (this.stopped) return;
    this.paused = false;
    this.wake();
  }

  private wake(): void {
    this.wakeLoop?.();
    this.wakeLoop = undefined;
  }

  private async consumer(): Promise<Consumer> {
    let delay = 250;
    const since = Date.now();
    for (;;) {
      try {
        const consumer = await this.opts.js.consumers.get(
          this.opts.names.jobsStream,
          this.opts.names.jobsConsumer(this.opts.region),
        );
        const info = await consumer.info(true);
        // A replicated consumer just created (or whose leader just died) takes pull requests only once it
        // has a leader; a pull sent before that is silently lost until its heartbeats are missed.
        if (info.cluster && info.cluster.replicas !== undefined && !info.cluster.leader) {
          throw new Error('job consumer has no leader yet');
        }
        if (this.opts.workingEveryMs === undefined && info.config.ack_wait) {
          this.workingEveryMs = Math.max(500, Math.floor(info.config.ack_wait / 1e6 / 3));
        }
        return consumer;
      } catch (err) {
        if (this.stopped) throw err;
        // The controller creates a region's consumer when it sees the region's first heartbeat: a short
        // wait at start-up is normal, a long one means no controller.
        const level = Date.now() - since > 10_000 ? 'warn' : 'debug';
        this.opts.logger[level](
          { err: (err as Error).message },
          'job consumer not available yet (is the controller up?)',
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private async pullLoop(): Promise<void> {
    let consumer: Consumer | undefined;
    while (!this.stopped) {
      this.startParked();
      if (this.paused || this.parked || this.opts.runner.freeSlots() === 0) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve;
        });
        continue;
      }
      try {
        consumer ??= await this.consumer();
        const msg = await this.pullOne(consumer);
        if (!msg) continue;
        if (this.draining) msg.nak();
        else this.handle(msg);
      } catch (err) {
        if (this.stopped) break;
        this.opts.logger.warn({ err: (err as Error).message }, 'pull failed; retrying');
        consumer = undefined;
        await sleep(1000);
      }
    }
  }

  /**
   * One pull request for one job, held up to 15 s with server heartbeats every 2.5 s: a pull the client gave
   * up on while the server still holds it can receive a job nobody reads (that delivery is lost until the
   * ack wait passes, and counts against max_deliver), so the client gives up only after 5 s of silence, well
   * before the pull expires — never in a race with the expiry. pause()/stop() end it at once.
   */
  private async pullOne(consumer: Consumer): Promise<JsMsg | undefined> {
    const iter = await consumer.fetch({ max_messages: 1, expires: 15_000, idle_heartbeat: 2_500 });
    this.pull = iter;
    try {
      for await (const m of iter) return m;
      return undefined;
    } finally {
      this.pull = undefined;
    }
  }

  private handle(msg: JsMsg): void {
    this.opts.logger.debug({ seq: msg.seq, delivery: msg.info.deliveryCount }, 'job message received');
    let job: Job;
    try {
      const parsed = Job.safeParse(decodeJson(msg.data));
      if (!parsed.success) {
        this.opts.logger.error({ issues: parsed.error.issues, seq: msg.seq }, 'malformed job; terminated');
        msg.term('malformed job');
        return;
      }
      job = parsed.data;
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message, seq: msg.seq }, 'job is not JSON; terminated');
      msg.term('not JSON');
      return;
    }
    if (job.deadline && Date.parse(job.deadline) < Date.now()) {
      this.stats.expired++;
      this.opts.logger.warn({ jobId: job.id }, 'job expired before it could start; dropped');
      msg.term('expired');
      return;
    }
    if (job.sweepId && this.cancelledSweeps.has(job.sweepId)) {
      msg.term('sweep cancelled');
      return;
    }
    if (this.reported.has(reportId(job))) {
      // We stored its report but the ack did not reach the server (e.g. NATS restarted): just ack.
      this.stats.alreadyReported++;
      msg.ack();
      return;
    }
    if (this.inflight.has(job.id) || this.parked?.job.id === job.id) {
      // Redelivered to us while we still have it (we missed working() during an outage): keep ours.
      msg.working();
      return;
    }
    if (msg.info.deliveryCount >= POISON_DELIVERIES) {
      // Delivered this often without a report: the agents that took it crashed or stalled on it (a
      // hostile stream that got past the bounds). Running it again would take down one more agent per
      // delivery; report it as ours to fix instead, once, and take it off the queue.
      void this.refuse(job, msg);
      return;
    }
    if (!this.opts.runner.hasCapacity(job.probe)) {
      // One work queue carries every probe kind, so a pull can bring a kind whose slots are full. A nak
      // would bounce it straight back to us (or to another full agent) and burn its max_deliver budget;
      // instead hold it, keep it alive with working(), and pull nothing more until it has started.
      this.opts.logger.debug({ jobId: job.id, probe: job.probe }, 'no free slot of this kind; parked');
      this.parked = { job, msg, working: setInterval(() => msg.working(), this.workingEveryMs) };
      return;
    }
    this.begin(job, msg);
  }

  private async refuse(job: Job, msg: JsMsg): Promise<void> {
    const n = msg.info.deliveryCount;
    const log = this.opts.logger.child({ jobId: job.id, target: job.target.id, probe: job.probe });
    log.error({ delivery: n }, 'job delivered again and again without a report; not run (probe-error)');
    const now = new Date().toISOString();
    const report = this.envelope(
      job,
      {
        target: job.target,
        probe: job.probe,
        mode: job.mode,
        startedAt: now,
        endedAt: now,
        outcome: 'probe-error',
        reasons: [
          `job-poisoned: delivered ${n} times without a report (the agents that took it crashed or stalled); not run again`,
        ],
        metrics: {},
        segments: [],
        errors: [],
        findings: [],
      },
      0,
    );
    try {
      await this.opts.publisher.publish(report);
      this.reported.add(report.id);
      msg.term('poisoned');
      this.stats.poisoned++;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'poisoned job report not published; handed back');
      msg.nak(10_000);
    }
  }

  private startParked(): void {
    const p = this.parked;
    if (!p || this.draining || !this.opts.runner.hasCapacity(p.job.probe)) return;
    clearInterval(p.working);
    this.parked = undefined;
    // Pulled before its sweep was cancelled: the controller deleted it from the queue, we drop our copy.
    if (p.job.sweepId && this.cancelledSweeps.has(p.job.sweepId)) {
      p.msg.term('sweep cancelled');
      this.wake();
      return;
    }
    this.begin(p.job, p.msg);
  }

  /** Hands a parked job back at once (draining): another agent can start it now. */
  private unpark(): void {
    const p = this.parked;
    if (!p) return;
    clearInterval(p.working);
    this.parked = undefined;
    p.msg.nak();
  }

  private begin(job: Job, msg: JsMsg): void {
    const entry: Inflight = { job, abort: new AbortController(), handBack: false, done: Promise.resolve() };
    this.inflight.set(job.id, entry);
    this.stats.started++;
    entry.done = this.execute(job, msg, entry).finally(() => {
      this.inflight.delete(job.id);
      this.wake();
    });
  }

  private async execute(job: Job, msg: JsMsg, entry: Inflight): Promise<void> {
    const log = this.opts.logger.child({ jobId: job.id, target: job.target.id, probe: job.probe });
    const working = setInterval(() => msg.working(), this.workingEveryMs);
    const deadline = setTimeout(
      () => entry.abort.abort(new Error('job deadline')),
      job.durationS * 1000 + (this.opts.graceMs ?? 30_000),
    );
    try {
      log.info(
        { durationS: job.durationS, delivery: msg.info.deliveryCount, redelivered: msg.redelivered },
        'job started',
      );
      // A watch publishes each interval report as it comes; the summary below is seq 0. An interval's seq
      // is the time its report ended on the job's own clock (ms since createdAt): reports come on the
      // interval grid and also early (a stream probe reports a new critical finding at once), so a count
      // of intervals would not do, and if the job is redelivered to another agent the new agent's ids
      // still follow the old ones instead of repeating ids the stream would drop as duplicates.
      let seq = 0;
      const onInterval =
        job.mode === 'watch'
          ? (interval: ProbeResult) => {
              const elapsed = Date.parse(interval.endedAt) - Date.parse(job.createdAt);
              seq = Math.max(seq + 1, Math.round(elapsed));
              const report = this.envelope(job, interval, seq);
              this.opts.publisher.publish(report).catch((err: Error) => {
                log.warn({ err: err.message, reportId: report.id }, 'interval report not published');
              });
            }
          : undefined;
      const result = await this.opts.runner.run(job.probe, job, entry.abort.signal, onInterval);
      if (entry.handBack) {
        // Stopping mid-job: hand it back rather than report a truncated measurement.
        msg.nak();
        this.stats.handedBack++;
        log.warn('job handed back for redelivery (agent stopping)');
        return;
      }
      const report = this.envelope(job, result, 0);
      const outcome = await this.opts.publisher.publish(report);
      this.reported.add(report.id);
      // While NATS is down the ack waits in the client's buffer and goes out on reconnect; if it is lost
      // the job comes back, is recognised above, and acked without running again.
      msg.ack();
      this.stats.completed++;
      log.info(
        { outcome: report.outcome, delivery: outcome, startup_ms: report.metrics.startup_ms },
        'job done',
      );
    } catch (err) {
      const dropped = err instanceof ReportDroppedError;
      log.error({ err: (err as Error).message }, 'job failed to complete; handed back for redelivery');
      msg.nak(dropped ? 10_000 : 2000);
      this.stats.handedBack++;
    } finally {
      clearInterval(working);
      clearTimeout(deadline);
    }
  }

  /** The fleet envelope around a probe result. The target URL is redacted: signed URLs carry credentials. */
  private envelope(job: Job, result: ProbeResult, seq: number): Report {
    const offset = this.opts.clockOffsetMs?.();
    const bound = this.opts.clockUncertaintyMaxMs;
    const uncertainty = result.metrics.clock_uncertainty_ms;
    let { flags, reasons } = result;
    if (
      bound !== undefined &&
      uncertainty !== undefined &&
      uncertainty > bound &&
      !flags?.includes('clock-suspect')
    ) {
      flags = [...(flags ?? []), 'clock-suspect'];
      reasons = [
        ...reasons,
        `clock-suspect: clock offset known to ±${uncertainty} ms only (bound ${bound} ms); latency figures not used for alerts`,
      ].slice(0, 50);
    }
    return {
      ...result,
      reasons,
      ...(flags ? { flags } : {}),
      target: { ...result.target, url: redactUrl(result.target.url) },
      id: seq === 0 ? reportId(job) : `${job.id}:${seq}`,
      jobId: job.id,
      seq,
      sweepId: job.sweepId,
      region: this.opts.region,
      agentId: this.opts.agentId,
      version: VERSION,
      metrics: offset === undefined ? result.metrics : { ...result.metrics, clock_offset_ms: offset },
    };
  }

  /** A stopped watch: its running chunks end now and report their summary (not handed back). */
  stopWatch(watchId: string): number {
    let n = 0;
    for (const entry of this.inflight.values()) {
      if (entry.job.watchId === watchId) {
        entry.abort.abort(new Error('watch stopped'));
        n++;
      }
    }
    if (n) this.opts.logger.info({ watchId, jobs: n }, 'watch stopped by the controller');
    return n;
  }

  /** A cancelled sweep: its running jobs end now and report what they measured. */
  stopSweep(sweepId: string): number {
    // Remembered (bounded) so a job of it already pulled or parked here is dropped instead of started.
    this.cancelledSweeps.add(sweepId);
    if (this.cancelledSweeps.size > 1000) {
      const oldest = this.cancelledSweeps.values().next().value;
      if (oldest !== undefined) this.cancelledSweeps.delete(oldest);
    }
    let n = 0;
    for (const entry of this.inflight.values()) {
      if (entry.job.sweepId === sweepId) {
        entry.abort.abort(new Error('sweep cancelled'));
        n++;
      }
    }
    if (n) this.opts.logger.info({ sweepId, jobs: n }, 'sweep cancelled by the controller');
    return n;
  }

  /**
   * Graceful stop: take no new jobs, let running jobs finish for up to graceMs, then abort the rest and hand
   * them back (nak) so another agent of the region runs them in full. Resolves when no job is running.
   */
  async stop(graceMs = 0): Promise<{ finished: number; handedBack: number }> {
    this.stopped = true;
    this.pull?.stop();
    this.unpark();
    this.wake();
    const running = [...this.inflight.values()];
    if (running.length && graceMs > 0) {
      this.opts.logger.info({ jobs: running.length, graceMs }, 'draining: waiting for running jobs');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(running.map((j) => j.done)),
        new Promise((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const left = [...this.inflight.values()];
    for (const j of left) {
      j.handBack = true;
      j.abort.abort(new Error('agent stopping'));
    }
    await Promise.allSettled(left.map((j) => j.done));
    await this.loop;
    return { finished: running.length - left.length, handedBack: left.length };
  }
}

function reportId(job: Job): string {
  return `${job.id}:0`;
}

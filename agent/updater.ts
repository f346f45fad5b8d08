import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../shared/log.js';
import { Job, type Report } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { VERSION } from '../shared/version.js';
import type { Publisher } from './publisher.js';
import type { Runner } from './runner.js';

export interface UpdaterOptions {
  js: JetStreamClient;
  names: Names;
  region: string;
  agentId: string;
  runner: Runner;
  publisher: Publisher;
  logger: Logger;
  /** Extra time past durationS before a job is aborted. */
  graceMs?: number;
  /** How often a long job tells JetStream it is still alive (must be < the consumer's ack wait). */
  workingEveryMs?: number;
  clockOffsetMs?: () => number | undefined;
}

/**
 * Takes jobs from the region's work queue, one pull per free slot: an agent at capacity pulls nothing, so
 * the queue hands work to agents that can start it now. A job is acked only after its report is stored.
 */
export class Updater {
  private stopped = false;
  private readonly inflight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private slotFreed: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: UpdaterOptions) {}

  runningJobs(): string[] {
    return [...this.inflight.keys()];
  }

  start(): void {
    this.loop = this.pullLoop();
  }

  private async consumer(): Promise<Consumer> {
    let delay = 250;
    const since = Date.now();
    for (;;) {
      try {
        return await this.opts.js.consumers.get(
          this.opts.names.jobsStream,
          this.opts.names.jobsConsumer(this.opts.region),
        );
      } catch (err) {
        if (this.stopped) throw err;
        // The controller creates a region's consumer when it sees the region's first heartbeat: a short
        // wait at start-up is normal, a long one means no controller.
        const level = Date.now() - since > 10_000 ? 'warn' : 'debug';
        this.opts.logger[level](
          { err: (err as Error).message },
          'job consumer not available yet (is the controller up?)',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private async pullLoop(): Promise<void> {
    let consumer: Consumer | undefined;
    while (!this.stopped) {
      if (this.opts.runner.freeSlots() === 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        continue;
      }
      try {
        consumer ??= await this.consumer();
        const msg = await consumer.next({ expires: 3000 });
        if (msg && !this.stopped) this.handle(msg);
        else if (msg) msg.nak();
      } catch (err) {
        if (this.stopped) break;
        this.opts.logger.warn({ err: (err as Error).message }, 'pull failed; retrying');
        consumer = undefined;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private handle(msg: JsMsg): void {
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
      this.opts.logger.warn({ jobId: job.id }, 'job expired before it could start; dropped');
      msg.term('expired');
      return;
    }
    if (!this.opts.runner.hasCapacity(job.probe)) {
      // Another agent of the region may have a free slot of this kind.
      msg.nak(1000);
      return;
    }
    const abort = new AbortController();
    const done = this.execute(job, msg, abort).finally(() => {
      this.inflight.delete(job.id);
      this.slotFreed?.();
      this.slotFreed = undefined;
    });
    this.inflight.set(job.id, { abort, done });
  }

  private async execute(job: Job, msg: JsMsg, abort: AbortController): Promise<void> {
    const log = this.opts.logger.child({ jobId: job.id, target: job.target.id, probe: job.probe });
    const working = setInterval(() => msg.working(), this.opts.workingEveryMs ?? 10_000);
    const deadline = setTimeout(
      () => abort.abort(new Error('job deadline')),
      job.durationS * 1000 + (this.opts.graceMs ?? 30_000),
    );
    try {
      log.info({ durationS: job.durationS, redelivered: msg.redelivered }, 'job started');
      const result = await this.opts.runner.run(job.probe, job, abort.signal);
      if (this.stopped && abort.signal.aborted) {
        // Shut down mid-job: hand it back rather than report a truncated measurement.
        msg.nak();
        return;
      }
      const offset = this.opts.clockOffsetMs?.();
      const report: Report = {
        ...result,
        id: `${job.id}:0`,
        jobId: job.id,
        seq: 0,
        sweepId: job.sweepId,
        region: this.opts.region,
        agentId: this.opts.agentId,
        version: VERSION,
        metrics: offset === undefined ? result.metrics : { ...result.metrics, clock_offset_ms: offset },
      };
      await this.opts.publisher.publish(report);
      msg.ack();
      log.info({ outcome: report.outcome, startup_ms: report.metrics.startup_ms }, 'job done');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'job failed to complete; handed back for redelivery');
      msg.nak(2000);
    } finally {
      clearInterval(working);
      clearTimeout(deadline);
    }
  }

  /** Stop pulling; abort running jobs (they are handed back) and wait for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.slotFreed?.();
    for (const { abort } of this.inflight.values()) abort.abort(new Error('agent stopping'));
    await Promise.allSettled([...this.inflight.values()].map((j) => j.done));
    await this.loop;
  }
}

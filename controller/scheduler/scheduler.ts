import type { KV } from '@nats-io/kv';
import { schedule as cronSchedule, type ScheduledTask } from 'node-cron';
import type { Schedule } from '../../shared/api.js';
import type { Logger } from '../../shared/log.js';
import { encodeJson } from '../../shared/transport.js';
import type { KvCollection } from '../state/kvcollection.js';
import type { SweepService } from '../sweeps.js';
import type { Lease } from './lease.js';

export interface SchedulerOptions {
  schedules: KvCollection<typeof import('../../shared/api.js').Schedule>;
  sweeps: SweepService;
  lease: Lease;
  /** Same TTL'd bucket as the lease: one `fired.<schedule>.<tick>` key per tick, created once. */
  guards: KV;
  logger: Logger;
}

/**
 * Runs every enabled schedule with node-cron on every replica; a tick fires only on the lease holder,
 * and only if it is the first to create the tick's guard key. The lease keeps work on one replica; the
 * guard makes a handover (two replicas briefly believing they lead) still fire each tick exactly once.
 */
export class Scheduler {
  private readonly tasks = new Map<string, { task: ScheduledTask; spec: string }>();
  readonly fired: { scheduleId: string; tick: string; sweepId: string }[] = [];

  constructor(private readonly opts: SchedulerOptions) {}

  start(): void {
    this.sync();
    this.opts.schedules.onChange(() => this.sync());
  }

  /** Brings cron tasks in line with the stored schedules (local or another replica's edits). */
  sync(): void {
    const wanted = new Map(
      this.opts.schedules
        .list()
        .filter((s) => s.enabled)
        .map((s) => [s.id, s]),
    );
    for (const [id, t] of this.tasks) {
      const s = wanted.get(id);
      if (!s || JSON.stringify(s) !== t.spec) {
        void t.task.destroy();
        this.tasks.delete(id);
      }
    }
    for (const [id, s] of wanted) {
      if (this.tasks.has(id)) continue;
      const task = cronSchedule(s.cron, (ctx) => this.tick(s, ctx.date), {
        timezone: s.tz,
        name: `schedule-${id}`,
        noOverlap: false,
      });
      this.tasks.set(id, { task, spec: JSON.stringify(s) });
    }
  }

  private async tick(s: Schedule, date: Date): Promise<void> {
    if (!this.opts.lease.isHeld()) return;
    const tick = Math.floor(date.getTime() / 1000);
    try {
      await this.opts.guards.create(`fired.${s.id}.${tick}`, encodeJson({ at: Date.now() }));
    } catch {
      return; // another replica fired this tick
    }
    try {
      const sweep = await this.opts.sweeps.create(s.sweep, { author: `schedule:${s.id}` });
      this.fired.push({ scheduleId: s.id, tick: new Date(tick * 1000).toISOString(), sweepId: sweep.id });
      if (this.fired.length > 1000) this.fired.shift();
      this.opts.logger.info({ schedule: s.id, tick, sweepId: sweep.id }, 'schedule fired');
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message, schedule: s.id }, 'schedule tick failed');
    }
  }

  nextRun(id: string): string | null {
    return this.tasks.get(id)?.task.getNextRun()?.toISOString() ?? null;
  }

  stop(): void {
    for (const t of this.tasks.values()) void t.task.destroy();
    this.tasks.clear();
  }
}

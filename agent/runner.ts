import type { ProbeJob, Prober } from '../probes/types.js';
import type { ClockEstimate } from '../shared/clock-offset.js';
import type { Logger } from '../shared/log.js';
import type { ProbeKind, ProbeResult } from '../shared/schemas.js';

export interface RunnerOptions {
  /** Every probe kind must be wired: a missing one fails to compile. */
  probers: Record<ProbeKind, Prober>;
  capacity: Record<ProbeKind, number>;
  logger: Logger;
  /** The agent's clock estimate, handed to every probe (see ProbeContext.clock). */
  clock?: () => ClockEstimate | undefined;
}

/**
 * Runs probes under per-kind concurrency limits and deadlines. A probe that throws is our failure, not the
 * stream's: it becomes a probe-error result so nothing pages on-call for it.
 */
export class Runner {
  private readonly running: Record<ProbeKind, number> = { browser: 0, stream: 0 };
  constructor(private readonly opts: RunnerOptions) {}

  hasCapacity(kind: ProbeKind): boolean {
    return this.running[kind] < this.opts.capacity[kind];
  }

  freeSlots(): number {
    return (Object.keys(this.running) as ProbeKind[]).reduce(
      (n, k) => n + Math.max(0, this.opts.capacity[k] - this.running[k]),
      0,
    );
  }

  snapshot(): { capacity: Record<ProbeKind, number>; running: Record<ProbeKind, number> } {
    return { capacity: { ...this.opts.capacity }, running: { ...this.running } };
  }

  async run(
    kind: ProbeKind,
    job: ProbeJob,
    signal: AbortSignal,
    onInterval?: (result: ProbeResult) => void,
  ): Promise<ProbeResult> {
    this.running[kind]++;
    const startedAt = new Date();
    try {
      return await this.opts.probers[kind].run(job, {
        signal,
        logger: this.opts.logger.child({ probe: kind }),
        onInterval,
        ...(this.opts.clock ? { clock: this.opts.clock } : {}),
      });
    } catch (err) {
      this.opts.logger.error({ err, target: job.target.id }, 'probe threw; reporting probe-error');
      return {
        target: job.target,
        probe: kind,
        mode: job.mode,
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        outcome: 'probe-error',
        reasons: [`probe failed: ${(err as Error).message}`.slice(0, 500)],
        metrics: {},
        segments: [],
        errors: [],
        findings: [],
      };
    } finally {
      this.running[kind]--;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(Object.values(this.opts.probers).map((p) => p.close()));
  }
}

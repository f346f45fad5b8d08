import type { ProbeContext, ProbeJob, Prober } from '../../probes/types.js';
import type { ProbeKind, ProbeResult } from '../../shared/schemas.js';

/**
 * A stand-in prober for fleet tests: "measures" for the job's durationS (scaled by `speed`), honouring the
 * abort signal, then returns an ok result whose numbers are a pure function of the job. What it exercises is
 * the fleet (queueing, redelivery, publishing), not playback.
 */
export class StandInProber implements Prober {
  readonly runs: ProbeJob[] = [];
  constructor(
    readonly kind: ProbeKind,
    private readonly opts: { speed?: number } = {},
  ) {}

  async run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult> {
    this.runs.push(job);
    const startedAt = new Date();
    const ms = (job.durationS * 1000) / (this.opts.speed ?? 1);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    return {
      target: job.target,
      probe: this.kind,
      mode: job.mode,
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      outcome: 'ok',
      reasons: ctx.signal.aborted ? ['aborted'] : [],
      metrics: { startup_ms: 100 + (job.target.id.length % 7), segments_total: 3 },
      segments: [],
      errors: [],
      findings: [],
    };
  }

  async close(): Promise<void> {}
}

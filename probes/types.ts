import type { Logger } from 'pino';
import type { ClockEstimate } from '../shared/clock-offset.js';
import type { Job, ProbeKind, ProbeResult } from '../shared/schemas.js';

/** What a probe needs from a job: no fleet envelope, so the CLI can run a probe without NATS. */
export type ProbeJob = Pick<Job, 'target' | 'durationS' | 'mode' | 'expectations' | 'rendition' | 'auth'> & {
  /** watch mode: emit an interval report every intervalS seconds. */
  intervalS?: number;
};

export interface ProbeContext {
  /** Aborted when the job is cancelled or its deadline passes; the probe returns what it has. */
  signal: AbortSignal;
  logger: Logger;
  /** watch mode: called with each interval report; the promise of run() resolves with the summary. */
  onInterval?: (result: ProbeResult) => void;
  /**
   * The agent's current clock estimate against the fleet's reference clock (absent: a CLI run, or no time
   * service answered). Latency figures that compare our clock with another machine's (g2g, PDT latency,
   * availability delay) are corrected by its offset and carry its uncertainty.
   */
  clock?: () => ClockEstimate | undefined;
}

/** One seam per probe kind: measure and return plain data. Probes never touch NATS. */
export interface Prober {
  readonly kind: ProbeKind;
  run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult>;
  close(): Promise<void>;
}

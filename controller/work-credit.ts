/**
 * A token bucket of event-loop time (ms): refills at `duty` x wall time, up to `burstMs`, and is spent by
 * the work it paces (alert passes, a replica's share of a cluster evaluation). It may go negative: work
 * that overran (a slice runs to its end) is paid back before the next may start. Background work paced
 * this way takes at most `duty` of the event loop on average, so ingest keeps the rest.
 */
export class WorkCredit {
  private ms: number;
  private at = performance.now();

  /** `duty`: a share of the event loop, or a function of the moment (less while ingest catches up). */
  constructor(
    private readonly burstMs: number,
    private readonly duty: number | (() => number),
  ) {
    this.ms = burstMs;
  }

  /** The credit now (ms), refilled for the time since it was last looked at; negative while in debt. */
  get available(): number {
    this.refill();
    return this.ms;
  }

  /** Ms until the credit is positive again (0 when it is). */
  waitMs(): number {
    const duty = this.refill();
    return this.ms > 0 ? 0 : -this.ms / duty;
  }

  spend(ms: number): void {
    this.refill();
    this.ms -= ms;
  }

  /** Gives back what was reserved (`spend`) and not used. */
  refund(ms: number): void {
    this.ms += ms;
  }

  private refill(): number {
    const now = performance.now();
    const duty = typeof this.duty === 'number' ? this.duty : this.duty();
    // Never backwards (a test's frozen clock set earlier than the last look).
    this.ms = Math.min(this.burstMs, this.ms + Math.max(0, now - this.at) * duty);
    this.at = now;
    return duty;
  }
}

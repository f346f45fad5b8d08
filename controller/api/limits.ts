/**
 * Bounds on long-lived API resources: server-sent event streams are capped per token (one dashboard left
 * open in many tabs, or a script in a loop) and overall, so no caller can hold every socket of the process.
 */
export class SseLimiter {
  private total = 0;
  private readonly byWho = new Map<string, number>();

  constructor(
    readonly maxPerToken: number,
    readonly maxTotal: number,
  ) {}

  /** Takes a slot for `who`; returns its release, or a reason when over a cap. */
  admit(who: string): { release: () => void } | { refused: string } {
    const mine = this.byWho.get(who) ?? 0;
    if (mine >= this.maxPerToken)
      return { refused: `at most ${this.maxPerToken} event streams per token; close one first` };
    if (this.total >= this.maxTotal)
      return { refused: `the controller serves at most ${this.maxTotal} event streams; try again later` };
    this.byWho.set(who, mine + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const n = (this.byWho.get(who) ?? 1) - 1;
        if (n <= 0) this.byWho.delete(who);
        else this.byWho.set(who, n);
      },
    };
  }

  get open(): number {
    return this.total;
  }
}

/**
 * Publication phase: when, relative to its EXT-X-PROGRAM-DATE-TIME end, does this rendition publish a segment?
 *
 * Under the RFC 8216 reload rules (wait TD after a change, TD/2 after none) a poller's offset behind each
 * publication is whatever its first load happened to be, anywhere in [0, TD), and it never shrinks. Every
 * finding that depends on "when did the newest segment appear" (staleness above all) is late by that offset.
 *
 * This tracker learns the lag L = publication - PDT end and aims reloads just after it:
 *  - search: each reload proves previousStart - pdtEnd < L <= response - pdtEnd for the segments it newly
 *    lists; while that interval is wide, one reload is aimed at its middle (a binary search step, a few
 *    reloads in all);
 *  - locked: reloads are aimed at pdtEnd(next) + aim. A hit lowers the aim by 1 ms (so a packager that
 *    speeds up is followed); a miss (the segment was not there yet) raises it past the proof, doubling the
 *    step on consecutive misses, and the first hit after misses reopens the search between the two proofs
 *    (a packager that slowed down is caught again in a few reloads).
 * It only ever moves a reload later than the RFC earliest time, never earlier, and it decides no finding:
 * staleness stays measured from what reloads showed.
 */

export interface PhasePlan {
  /** Wall time (epoch ms) to start the next reload. */
  at: number;
  /** PDT end (epoch ms) of the segment this reload is aimed at: the caller reports hit or miss. */
  target: number;
  probe: boolean;
  /** The RFC time was later than the aim: an ordinary reload, not a test of the aim. */
  clamped: boolean;
}

/** Process-wide counts of what the trackers decided (the bench prints them). */
export const phaseCounters = { search: 0, skip: 0, aimed: 0, clamped: 0, miss: 0, restart: 0 };

export class PublicationPhase {
  lo = Number.NEGATIVE_INFINITY;
  hi = Number.POSITIVE_INFINITY;
  /** ms after a segment's PDT end to reload (locked state), undefined while searching. */
  aim: number | undefined;
  private misses = 0;
  /** Locked: how far the RFC time was behind the aim at the previous reload, and its growth per reload. */
  private lastBehind: number | undefined;
  private driftPerReload = 0;

  constructor(private readonly marginMs = 40) {}

  reset(): void {
    this.lo = Number.NEGATIVE_INFINITY;
    this.hi = Number.POSITIVE_INFINITY;
    this.aim = undefined;
    this.misses = 0;
  }

  /** Narrow enough to aim at (ms). */
  static resolution(segmentMs: number): number {
    return Math.max(80, segmentMs / 16);
  }

  /**
   * One reload that listed new segments.
   * @param pdtEnds PDT + duration (epoch ms) of each segment new in this reload
   * @param prevStart wall time the previous reload (which did not list them) started
   * @param response wall time this reload's response arrived
   */
  observe(pdtEnds: number[], prevStart: number | undefined, response: number, segmentMs: number): void {
    let lo = Number.NEGATIVE_INFINITY;
    let hi = Number.POSITIVE_INFINITY;
    for (const end of pdtEnds) {
      if (!Number.isFinite(end)) continue;
      if (prevStart !== undefined) lo = Math.max(lo, prevStart - end);
      hi = Math.min(hi, response - end);
    }
    if (!Number.isFinite(hi)) return;
    if (this.aim !== undefined) {
      // Locked: a segment seen earlier than the aim proves the aim can come down.
      if (hi + this.marginMs < this.aim) this.aim = hi + this.marginMs;
      return;
    }
    const nextLo = Math.max(this.lo, lo);
    const nextHi = Math.min(this.hi, hi);
    if (nextLo <= nextHi) {
      this.lo = nextLo;
      this.hi = nextHi;
    } else {
      // The lag moved while searching: start over from this reload.
      phaseCounters.restart++;
      this.lo = lo;
      this.hi = hi;
    }
    if (this.hi - this.lo <= PublicationPhase.resolution(segmentMs)) {
      this.aim = this.hi + this.marginMs;
      this.misses = 0;
    }
  }

  /**
   * The outcome of an aimed reload started at `start` (wall ms) for the segment ending at `target`:
   * hit when that segment (or a later one) was listed.
   */
  aimed(hit: boolean, start: number, target: number, segmentMs: number): void {
    const proof = start - target;
    if (this.aim === undefined) {
      // A search step that missed: L is above this point.
      if (!hit) this.lo = Math.max(this.lo, proof);
      if (this.lo > this.hi) this.hi = this.lo + segmentMs / 2;
      return;
    }
    if (hit) {
      if (this.misses > 0) {
        // Caught up after misses: L lies between the last miss and this hit; narrow it down again.
        this.misses = 0;
        this.hi = proof + 5;
        if (this.hi - this.lo > PublicationPhase.resolution(segmentMs)) this.aim = undefined;
        return;
      }
      this.aim -= 1;
      return;
    }
    this.misses++;
    phaseCounters.miss++;
    this.lo = proof;
    this.aim = Math.max(this.aim, proof) + Math.min(segmentMs / 2, 50 * 2 ** (this.misses - 1));
  }

  /**
   * When to reload for the next segment, or undefined for the RFC time.
   * @param earliest wall time the RFC allows the next reload (previous start + TD)
   * @param nextPdtEnd expected PDT end of the next segment (newest PDT end + its duration)
   * @param segmentMs expected segment duration
   */
  plan(earliest: number, nextPdtEnd: number, segmentMs: number): PhasePlan | undefined {
    if (!Number.isFinite(nextPdtEnd) || !(segmentMs > 0)) return undefined;
    const res = PublicationPhase.resolution(segmentMs);
    let offset: number;
    const locked = this.aim !== undefined;
    if (this.aim !== undefined) offset = this.aim;
    else if (Number.isFinite(this.hi)) {
      const lo = Number.isFinite(this.lo) ? this.lo : this.hi - segmentMs;
      // A search step tests the middle itself (a margin here would bias every step towards the top).
      offset = (lo + this.hi) / 2;
    } else return undefined;
    let target = nextPdtEnd;
    let at = target + offset;
    // Locked but the RFC time is already later: reload then. Every poller obeying the RFC drifts later by its
    // own scheduling delay each reload (the wait counts from the previous start). Once that drift passes an
    // eighth of a segment, one reload skips a segment and is back on time — but only while the drift is slow
    // (a skip every 40 reloads at most). On a starved machine it is not: the offset then wraps by itself,
    // as without this tracker, rather than paying a long wait every few reloads.
    if (locked && at < earliest) {
      const behind = earliest - at;
      if (this.lastBehind !== undefined) {
        const growth = Math.max(0, behind - this.lastBehind);
        this.driftPerReload = this.driftPerReload * 0.9 + growth * 0.1;
      }
      this.lastBehind = behind;
      const skipAt = Math.max(res, segmentMs / 8);
      const sustainable = this.driftPerReload * 40 < skipAt;
      if (behind < skipAt || !sustainable) {
        phaseCounters.clamped++;
        return { at: earliest, target, probe: false, clamped: true };
      }
      phaseCounters.skip++;
      this.lastBehind = undefined;
    } else if (locked) this.lastBehind = undefined;
    // Too early for the next segment: aim at a later one (one long wait that removes the offset for good).
    for (let i = 0; i < 3 && at < earliest; i++) {
      at += segmentMs;
      target += segmentMs;
    }
    if (at < earliest || at - earliest > segmentMs) return undefined;
    if (locked) phaseCounters.aimed++;
    else phaseCounters.search++;
    return { at, target, probe: !locked, clamped: false };
  }
}

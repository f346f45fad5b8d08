import { describe, expect, it } from 'vitest';
import { PublicationPhase } from './phase.js';

/** A packager publishing segment k at pdtEnd(k) + lag, polled by a client obeying RFC 8216 6.3.4. */
function simulate(lag: number | ((k: number) => number), start: number, reloads: number) {
  const TD = 2000;
  const T0 = 1_700_000_000_000;
  const lagOf = typeof lag === 'number' ? () => lag : lag;
  const pdtEnd = (k: number) => T0 + (k + 1) * TD;
  const pub = (k: number) => pdtEnd(k) + lagOf(k);
  const newestAt = (t: number) => {
    let k = Math.floor((t - T0) / TD);
    while (pub(k + 1) <= t) k++;
    while (k >= 0 && pub(k) > t) k--;
    return k;
  };
  const phase = new PublicationPhase();
  let t = T0 + 100 * TD + start;
  let lastK = newestAt(t);
  let prevStart = t;
  let changedBefore = true;
  t += TD;
  const offsets: number[] = [];
  const gaps: Array<{ gap: number; afterChange: boolean }> = [];
  let aimedAt: { target: number } | undefined;
  for (let i = 0; i < reloads; i++) {
    const s = t;
    const k = newestAt(s + 2);
    const resp = s + 5;
    const changed = k > lastK;
    gaps.push({ gap: s - prevStart, afterChange: changedBefore });
    if (aimedAt) phase.aimed(pdtEnd(k) >= aimedAt.target - 1, s, aimedAt.target, TD);
    if (changed) {
      const fresh = [];
      for (let j = lastK + 1; j <= k; j++) fresh.push(pdtEnd(j));
      phase.observe(fresh, prevStart, resp, TD);
      offsets.push(s - pub(k));
      lastK = k;
    }
    const earliest = s + (changed ? TD : TD / 2);
    const plan = changed ? phase.plan(earliest, pdtEnd(k) + TD, TD) : undefined;
    if (process.env.PHASE_DEBUG)
      console.log(i, changed, k, Math.round(s - pub(k)), phase.lo, phase.hi, phase.aim, plan);
    aimedAt = plan;
    prevStart = s;
    changedBefore = changed;
    t = plan ? plan.at : earliest + 5;
  }
  return { offsets, gaps };
}

describe('PublicationPhase', () => {
  it('locks reloads just after publication from any starting phase, never earlier than RFC 8216 allows', () => {
    for (const start of [0, 300, 900, 1500, 1950]) {
      for (const lag of [150, 700, 1900]) {
        const { offsets, gaps } = simulate(lag, start, 60);
        const late = offsets.slice(-15);
        expect(Math.max(...late), `start ${start} lag ${lag}: ${late.join(',')}`).toBeLessThan(200);
        for (const g of gaps) expect(g.gap).toBeGreaterThanOrEqual(g.afterChange ? 2000 : 1000);
      }
    }
  });

  it('follows a packager whose lag jumps', () => {
    const { offsets } = simulate((k) => (k < 130 ? 300 : 1200), 1000, 90);
    expect(Math.max(...offsets.slice(-10))).toBeLessThan(200);
  });

  it('does nothing without observations', () => {
    const p = new PublicationPhase();
    expect(p.plan(0, 1000, 2000)).toBeUndefined();
  });
});

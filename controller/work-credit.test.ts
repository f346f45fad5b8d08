import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkCredit } from './work-credit.js';

describe('WorkCredit', () => {
  const clock = vi.spyOn(performance, 'now');
  afterEach(() => clock.mockReset());

  it('starts full, refills at its duty up to the burst, and says how long a debt takes to repay', () => {
    clock.mockReturnValue(1000);
    const c = new WorkCredit(100, 0.1);
    expect(c.available).toBe(100);
    c.spend(300);
    expect(c.available).toBe(-200);
    // 200 ms of debt at 10 % of wall time: 2 s.
    expect(c.waitMs()).toBe(2000);
    clock.mockReturnValue(2000);
    expect(c.available).toBe(-100);
    clock.mockReturnValue(60_000);
    expect(c.available).toBe(100);
    expect(c.waitMs()).toBe(0);
  });

  it('reads a duty that changes (less while ingest catches up) at each refill', () => {
    let duty = 0.1;
    clock.mockReturnValue(0);
    const c = new WorkCredit(100, () => duty);
    c.spend(100);
    duty = 0.02;
    clock.mockReturnValue(1000);
    expect(c.available).toBeCloseTo(20);
    duty = 0.1;
    clock.mockReturnValue(1500);
    expect(c.available).toBeCloseTo(70);
  });

  it('gives back what was reserved and not used, and never refills backwards in time', () => {
    clock.mockReturnValue(5000);
    const c = new WorkCredit(100, 0.1);
    c.spend(c.available);
    c.refund(40);
    clock.mockReturnValue(4000);
    expect(c.available).toBe(40);
  });
});

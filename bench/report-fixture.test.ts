import { describe, expect, it } from 'vitest';
import { Report } from '../shared/schemas.js';
import { fleetReport } from './report-fixture.js';

describe('fleetReport', () => {
  // bench:scale measures its later passes as reports into series that exist: a series whose probe kind
  // changed from pass to pass would open a new target x region x probe series instead (as it once did).
  it('keeps a series (target x region x probe kind) the same in every pass, with a new id each', () => {
    const kinds = new Set<string>();
    for (let r = 0; r < 6; r++) {
      for (let t = 0; t < 8; t++) {
        const passes = [0, 1, 2, 3].map((n) => fleetReport('x', r, t, n));
        const series = new Set(passes.map((p) => `${p.target.id}/${p.region}/${p.probe}`));
        expect(series.size).toBe(1);
        expect(new Set(passes.map((p) => p.id)).size).toBe(passes.length);
        for (const p of passes) {
          kinds.add(p.probe);
          expect(Report.safeParse(p).success).toBe(true);
        }
      }
    }
    // Both kinds still appear across the fleet.
    expect([...kinds].sort()).toEqual(['browser', 'stream']);
  });
});

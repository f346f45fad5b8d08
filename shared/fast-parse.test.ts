import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fastParser } from './fast-parse.js';
import { Report } from './schemas.js';
import { browserReport, mutatedReports, streamReport } from './testing/report-mutations.js';

describe('fastParser(Report)', () => {
  const fast = fastParser(Report);

  it('accepts the fixtures with the output zod gives (defaults filled, unknown keys stripped)', () => {
    for (const fixture of [browserReport, streamReport]) {
      const input = { ...structuredClone(fixture), unknownTopLevel: 1 };
      const z = Report.safeParse(structuredClone(input));
      const f = fast(structuredClone(input));
      expect(z.success).toBe(true);
      expect(f).toStrictEqual(z);
    }
  });

  it('agrees with zod on 20k mutated reports: same verdict, same output', () => {
    let accepted = 0;
    let rejected = 0;
    for (const [seed, input] of mutatedReports(20_000)) {
      const z = Report.safeParse(structuredClone(input));
      const f = fast(structuredClone(input));
      if (f.success !== z.success || (z.success && !isDeepStrictEqual(f, z))) {
        expect({ seed, input, fast: f, zod: z.success ? z : z.error.issues }).toBeUndefined();
      }
      if (z.success) accepted++;
      else rejected++;
    }
    // The corpus exercises both sides, and the compiled validator took most of what zod accepts.
    expect(accepted).toBeGreaterThan(2000);
    expect(fast.stats.fast).toBeGreaterThan(accepted * 0.9);
    expect(rejected).toBeGreaterThan(2000);
  });

  it('refuses a schema with a record rather than strip its keys', () => {
    expect(() => fastParser(z.object({ labels: z.record(z.string(), z.string()) }))).toThrow(/record/);
  });

  it('a rejected report carries zod field-level issues', () => {
    const bad = { ...structuredClone(browserReport), region: 'eu west' };
    const f = fast(bad);
    expect(f.success).toBe(false);
    if (!f.success) expect(f.error.issues[0]?.path).toEqual(['region']);
  });
});

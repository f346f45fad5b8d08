import { describe, expect, it } from 'vitest';
import { inhibit, regionInhibition } from './inhibit.js';
import { rule } from './testing.js';
import type { TargetSample } from './types.js';

const now = 1_000_000_000;
const opts = { probeErrorRatio: 0.5, agentOffline: true };

describe('inhibit', () => {
  it('an agent offline within the window inhibits its region', () => {
    const facts = {
      agents: [
        { agentId: 'a1', region: 'eu', status: 'offline' as const, lastSeen: now - 30_000, draining: false },
        { agentId: 'a2', region: 'us', status: 'offline' as const, lastSeen: now - 600_000, draining: false },
      ],
      regionTotals: () => undefined,
      now,
    };
    const t = { reports: 10, probeErrors: 0 };
    expect(regionInhibition('1m', 'eu', t, facts, opts)).toMatch(/agent a1 offline/);
    // Offline for 10 minutes: its reports have left a 1m window, but not a 1h one.
    expect(regionInhibition('1m', 'us', t, facts, opts)).toBeUndefined();
    expect(regionInhibition('1h', 'us', t, facts, opts)).toMatch(/agent a2/);
    expect(regionInhibition('1m', 'eu', t, facts, { ...opts, agentOffline: false })).toBeUndefined();
  });

  it('probe-errors of the target, or of the whole region, inhibit it', () => {
    const facts = {
      agents: [],
      regionTotals: (_w: string, region: string) =>
        region === 'ap' ? { reports: 100, probeErrors: 70 } : { reports: 100, probeErrors: 1 },
      now,
    };
    expect(regionInhibition('1m', 'eu', { reports: 4, probeErrors: 2 }, facts, opts)).toMatch(
      /2 of 4 reports of this target/,
    );
    expect(regionInhibition('1m', 'eu', { reports: 4, probeErrors: 1 }, facts, opts)).toBeUndefined();
    expect(regionInhibition('1m', 'ap', { reports: 4, probeErrors: 0 }, facts, opts)).toMatch(
      /70 of 100 reports of the region/,
    );
  });

  it('marks samples in place', () => {
    const s: TargetSample = {
      rule: rule(),
      target: 't',
      threshold: 0,
      regions: [
        {
          region: 'eu',
          value: 1,
          breaching: true,
          counted: true,
          reports: 2,
          probeErrors: 2,
          sampleReports: [],
        },
        {
          region: 'us',
          value: 1,
          breaching: true,
          counted: true,
          reports: 2,
          probeErrors: 0,
          sampleReports: [],
        },
      ],
    };
    inhibit([s], { agents: [], regionTotals: () => undefined, now }, opts);
    expect(s.regions.map((r) => Boolean(r.inhibited))).toEqual([true, false]);
  });
});

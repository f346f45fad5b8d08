import { describe, expect, it } from 'vitest';
import { needed, quorum, verdict } from './quorum.js';
import { rule } from './testing.js';
import type { RegionSample } from './types.js';

const region = (name: string, breaching: boolean, over: Partial<RegionSample> = {}): RegionSample => ({
  region: name,
  value: breaching ? 5 : 0,
  breaching,
  counted: true,
  reports: 3,
  probeErrors: 0,
  sampleReports: breaching ? [`${name}-r1`] : [],
  ...over,
});

describe('quorum', () => {
  it('one region of three breaching never meets a quorum of 2', () => {
    const v = verdict({ regions: 2 }, [region('eu', true), region('us', false), region('ap', false)]);
    expect(v).toEqual({ active: false, held: false, need: 2, breaching: 1, regions: 3 });
    expect(
      verdict({ regions: 2 }, [region('eu', true), region('us', true), region('ap', false)]).active,
    ).toBe(true);
  });

  it('percent of the regions that count', () => {
    expect(needed({ percent: 50 }, 4)).toBe(2);
    expect(needed({ percent: 50 }, 3)).toBe(2);
    expect(needed({ percent: 100 }, 3)).toBe(3);
    expect(needed({ percent: 10 }, 1)).toBe(1);
    const rs = [
      region('eu', true),
      region('us', false),
      region('ap', false, { counted: false, value: null }),
    ];
    expect(verdict({ percent: 50 }, rs)).toMatchObject({ active: true, need: 1, regions: 2 });
    expect(verdict({ percent: 50 }, [])).toMatchObject({ active: false });
  });

  it('inhibited regions do not count; they can hold a firing alert', () => {
    const rs = [
      region('eu', true, { inhibited: 'agent a1 offline' }),
      region('us', true),
      region('ap', false),
    ];
    const v = verdict({ regions: 2 }, rs);
    expect(v).toMatchObject({ active: false, held: true, breaching: 1, regions: 2 });
    expect(verdict({ regions: 2 }, [region('eu', true, { inhibited: 'x' }), region('us', false)]).held).toBe(
      false,
    );
  });

  it('one candidate per target: labels, fingerprint, headline value, evidence', () => {
    const r = rule({
      id: 'stale',
      severity: 'critical',
      labels: { team: 'video' },
      annotations: { summary: '{{target}} stale: {{value}}' },
    });
    const [c] = quorum(
      [
        {
          rule: r,
          target: 'ch1',
          threshold: 0,
          regions: [region('us', true, { value: 7 }), region('eu', true, { value: 3 })],
        },
      ],
      () => ({ tier: 'gold', team: 'overridden' }),
    );
    expect(c?.labels).toEqual({
      tier: 'gold',
      team: 'video',
      alertname: 'stale',
      severity: 'critical',
      target: 'ch1',
    });
    expect(c?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(c?.value).toBe(7);
    expect(c?.annotations.summary).toBe('ch1 stale: 7');
    expect(c?.evidence.regions.map((x) => x.region)).toEqual(['eu', 'us']);
    expect(c?.evidence.regions[1]?.sample_reports).toEqual(['us-r1']);
    // Same labels, other figures: same fingerprint. A condition that does not hold yields nothing.
    const [again] = quorum(
      [{ rule: r, target: 'ch1', threshold: 0, regions: [region('ap', true, { value: 1 })] }],
      () => ({ tier: 'gold', team: 'overridden' }),
    );
    expect(again?.fingerprint).toBe(c?.fingerprint);
    expect(
      quorum([{ rule: r, target: 'ch1', threshold: 0, regions: [region('ap', false)] }], () => ({})),
    ).toEqual([]);
  });
});

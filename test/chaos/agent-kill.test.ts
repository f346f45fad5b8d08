import { describe, expect, it } from 'vitest';
import { agentKill } from './scenarios.js';

describe('chaos: kill -9 an agent mid-job', () => {
  it('redelivers the job to the other agent of the region, which completes it; one report each', async () => {
    const r = await agentKill();
    expect(r.victimOffline).toBe(true);
    expect(r.reports).toHaveLength(2);
    // Every report came from the survivor: the victim's job was redelivered to it.
    expect(r.reports.every((rep) => rep.agentId === r.survivor)).toBe(true);
    expect(r).toMatchObject({ expected: 2, published: 2, ingested: 2, duplicated: 0, lost: 0 });
  }, 120_000);
});

import { describe, expect, it } from 'vitest';
import { chromiumKill } from './scenarios.js';

describe('chaos: the Chromium process of a browser session is killed', () => {
  it('reports that session as probe-error and keeps serving with a relaunched browser', async () => {
    const r = await chromiumKill();
    expect(r.first.outcome, r.first.reasons.join('; ')).toBe('probe-error');
    expect(r.second.agentId).toBe(r.first.agentId);
    expect(r.second.outcome, r.second.reasons.join('; ')).not.toBe('probe-error');
    expect(r.newPid).toBeDefined();
    expect(r.newPid).not.toBe(r.killedPid);
    expect(r.heartbeatBrowser).toMatchObject({ healthy: true, pid: r.newPid });
    expect(r).toMatchObject({ expected: 2, published: 2, ingested: 2, duplicated: 0, lost: 0 });
  }, 240_000);
});

import { describe, expect, it } from 'vitest';
import { clusterNodeKill } from './scenarios.js';

describe('chaos: 3-node NATS cluster (R3 streams) loses a node mid-sweep', () => {
  it('fails over and completes the sweep, every report exactly once', async () => {
    const r = await clusterNodeKill();
    expect(r.killed).toMatch(/^chaos-n[123]$/);
    expect(r).toMatchObject({ expected: 8, published: 8, ingested: 8, duplicated: 0, lost: 0 });
  }, 240_000);
});

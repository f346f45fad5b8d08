import { describe, expect, it } from 'vitest';
import { natsRestart } from './scenarios.js';

describe('chaos: nats-server restarted mid-sweep (file storage, same store and port)', () => {
  it('delivers every report exactly once; reports made during the outage come through the spool', async () => {
    const r = await natsRestart();
    expect(r.downMs).toBeLessThanOrEqual(30_000);
    expect(r.spooled).toBeGreaterThan(0);
    expect(r).toMatchObject({ expected: 8, published: 8, ingested: 8, duplicated: 0, lost: 0 });
  }, 180_000);
});

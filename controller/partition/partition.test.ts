import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { makeReport } from '../../test/helpers/fleet.js';
import { Aggregator, type Bucket, emptyBucket, finish, mergeInto } from '../aggregate/aggregator.js';
import { assignAll, partitionOf } from './hash.js';
import { PartitionLeases } from './leases.js';
import { bucketIn, bucketOut, WireBucket } from './wire.js';

describe('partitions', () => {
  it("computes a target's partition like nats-server's partition(8, 3) mapping", () => {
    // Observed with nats-server 2.9.10 and the mapping of deploy/nats/nats-server.conf (N = 8).
    const seen = { t1: 6, t2: 3, abc: 3, 'target-17': 7, zzz: 5, x: 7 };
    for (const [t, p] of Object.entries(seen)) expect(partitionOf(t, 8)).toBe(p);
  });

  it('shares partitions evenly and moves few of them when a replica leaves', () => {
    const parts = [...Array.from({ length: 16 }, (_, i) => String(i)), 'unmapped', 'legacy'];
    const three = assignAll(parts, ['a-1', 'b-2', 'c-3']);
    const load = new Map<string, number>();
    for (const m of three.values()) load.set(m, (load.get(m) ?? 0) + 1);
    expect([...load.values()].sort()).toEqual([6, 6, 6]);
    const two = assignAll(parts, ['a-1', 'b-2']);
    const moved = parts.filter((p) => three.get(p) !== 'c-3' && three.get(p) !== two.get(p));
    expect(moved.length).toBeLessThanOrEqual(3);
    expect(assignAll(parts, ['b-2', 'a-1', 'c-3'])).toEqual(three);
    expect(assignAll(parts, ['a-1', 'b-2', 'b-2', 'c-3'])).toEqual(three);
  });

  it('keeps its partitions when the key listing names a member twice', async () => {
    // The KV client's key listing yields a key twice when it is written while being listed (observed
    // with nats-server 2.9.10: members renew every round). A bucket whose listing always does so:
    const store = new Map<string, number>([['member.b', 1]]);
    let rev = 1;
    const kv = {
      put: async (k: string) => store.set(k, ++rev).get(k),
      keys: async (filter: string) =>
        (async function* () {
          for (const k of store.keys()) if (k.startsWith(filter.slice(0, -1))) yield* [k, k];
        })(),
      create: async (k: string) => {
        if (store.has(k)) throw new Error('wrong last sequence');
        return store.set(k, ++rev).get(k);
      },
      update: async (k: string) => store.set(k, ++rev).get(k),
      delete: async (k: string) => store.delete(k),
    } as unknown as KV;
    const acquired: string[] = [];
    const released: string[] = [];
    const partitions = Array.from({ length: 12 }, (_, i) => String(i));
    const leases = new PartitionLeases({
      kv,
      replicaId: 'a',
      partitions,
      leaseMs: 5000,
      logger: createLogger('test', 'silent'),
      onAcquire: async (p) => void acquired.push(p),
      onRelease: async (p) => void released.push(p),
    });
    const plan = assignAll(partitions, ['a', 'b']);
    const mine = partitions.filter((p) => plan.get(p) === 'a');
    // Rounds settle: acquisitions run in the background of a round, each finished before the next one.
    for (let round = 0; round < 3; round++) {
      await leases.tick();
      await new Promise((r) => setImmediate(r));
    }
    expect(leases.liveMembers).toEqual(['a', 'b']);
    expect(acquired.sort()).toEqual([...mine].sort());
    expect(released).toEqual([]);
    await leases.stop();
  });

  it('merges window accumulators sent over the wire exactly like one aggregator', () => {
    const one = new Aggregator();
    const parts = [new Aggregator(), new Aggregator()];
    for (let i = 0; i < 300; i++) {
      const r = { ...makeReport({ jobId: `j${i}`, region: `r${i % 3}`, targetId: `t${i % 7}` }) };
      r.metrics = { startup_ms: 10 + ((i * 53) % 4000), g2g_p50_ms: (i * 7) % 900 };
      one.add(r);
      (parts[i % 2] as Aggregator).add(r);
    }
    for (const groupBy of ['region', 'target', 'probe'] as const) {
      const acc = new Map<string, Bucket>();
      for (const a of parts)
        for (const [k, b] of a.partial({ window: '1h', groupBy })) {
          const wire = WireBucket.parse(JSON.parse(JSON.stringify(bucketOut(b))));
          const into = acc.get(k) ?? emptyBucket(0);
          mergeInto(into, bucketIn(wire));
          acc.set(k, into);
        }
      expect(finish(acc)).toEqual(one.summary({ window: '1h', groupBy }));
    }
  });
});

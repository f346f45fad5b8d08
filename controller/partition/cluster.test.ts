import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../shared/log.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';
import { makeReport } from '../../test/helpers/fleet.js';
import { Aggregator, type SummaryGroup } from '../aggregate/aggregator.js';
import { BEHIND_DUTY } from '../ingest.js';
import { LatestReports } from '../latest.js';
import type { WorkCredit } from '../work-credit.js';
import { Cluster, type ClusterOptions, targetBatches } from './cluster.js';
import { isNumberedPartition, partitionOf } from './hash.js';
import { bucketOut } from './wire.js';

const logger = () =>
  ({ warn: vi.fn(), error: vi.fn(), info: vi.fn(), debug: vi.fn() }) as unknown as Logger & {
    warn: ReturnType<typeof vi.fn>;
  };

/** A Cluster without NATS: replies are captured, requests answered by `replies`. */
/** A cluster's evaluation work credit. */
const creditOf = (c: Cluster) => (c as unknown as { credit: WorkCredit }).credit;

function cluster(opts: Partial<ClusterOptions> & { replies?: (query: unknown) => unknown[] } = {}) {
  const published: { p: string; items: [string, unknown][] }[] = [];
  const nc = {
    publish: (_s: string, data: Uint8Array) => published.push(decodeJson(data) as never),
    requestMany: async (_s: string, data: Uint8Array) =>
      (async function* () {
        for (const r of opts.replies?.(decodeJson(data)) ?? []) yield { data: encodeJson(r) };
      })(),
  };
  const c = new Cluster({
    nc: nc as never,
    subject: 'q',
    replicaId: 'r-1',
    leases: { owned: () => [] } as never,
    owner: { states: new Map() } as never,
    partitions: ['0', 'unmapped'],
    deadlineMs: 100,
    logger: logger(),
    count: 8,
    ...opts,
  });
  return { c, published };
}

describe('cluster', () => {
  it('tells numbered partitions from unmapped and legacy ones', () => {
    expect(['0', '15'].every(isNumberedPartition)).toBe(true);
    expect(['unmapped', 'legacy', '', '1a'].some(isNumberedPartition)).toBe(false);
  });

  it('logs a failed background summary refresh instead of leaving an unobserved rejection', async () => {
    const log = logger();
    const { c } = cluster({ logger: log });
    const group = { key: 'r1', count: 1 } as SummaryGroup;
    const now = vi.spyOn(Date, 'now');
    let t = 1_000_000;
    now.mockImplementation(() => t);
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const summaryNow = vi.fn().mockResolvedValueOnce({ value: [group], missing: [] });
      (c as unknown as { summaryNow: typeof summaryNow }).summaryNow = summaryNow;
      const q = { window: '1m', groupBy: 'region' } as const;
      expect((await c.summary(q)).value).toEqual([group]);
      t += 1200; // past the cache age, within the stale bound: served, refreshed in the background
      summaryNow.mockRejectedValueOnce(new Error('nats gone'));
      expect((await c.summary(q)).value).toEqual([group]);
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).not.toHaveBeenCalled();
      expect(log.warn).toHaveBeenCalledWith({ err: 'nats gone' }, 'cluster summary refresh failed');
      // The failed entry is dropped: the next request asks again.
      summaryNow.mockResolvedValueOnce({ value: [], missing: [] });
      expect((await c.summary(q)).value).toEqual([]);
      expect(summaryNow).toHaveBeenCalledTimes(3);
    } finally {
      process.off('unhandledRejection', unhandled);
      now.mockRestore();
    }
  });

  it('out of budget, defers only the targets a partition holds (never the whole fleet from unmapped)', async () => {
    const fleet = Array.from({ length: 64 }, (_, i) => `t${i}`);
    const state = (id: string) => ({
      spec: { id },
      aggregator: new Aggregator(),
      latest: new LatestReports(),
    });
    const unmapped = state('unmapped');
    const numbered = state('3');
    unmapped.aggregator.add(makeReport({ jobId: 'j1', region: 'r1', targetId: 't5' }));
    const { c, published } = cluster({
      leases: {
        owned: () => [
          { partition: 'unmapped', revision: 1 },
          { partition: '3', revision: 1 },
        ],
      } as never,
      owner: {
        states: new Map([
          ['unmapped', unmapped],
          ['3', numbered],
        ]),
      } as never,
    });
    // No work credit left, for longer than the answer takes to refill any.
    creditOf(c).spend(1e9);
    await (c as unknown as { answer(q: unknown, reply: string): Promise<void> }).answer(
      { kind: 'evaluate', rules: [], targets: fleet, totals: [] },
      'reply',
    );
    const deferred = (p: string) =>
      published.filter((m) => m.p === p).flatMap((m) => m.items.filter(([k]) => k === 'D').map(([, v]) => v));
    expect(deferred('unmapped')).toEqual(['t5']);
    expect(deferred('3')).toEqual(fleet.filter((t) => partitionOf(t, 8) === 3));
  });

  it('reserves the work credit up front: two passes answered at once do not both spend it', async () => {
    const fleet = Array.from({ length: 200 }, (_, i) => `t${i}`).filter((t) => partitionOf(t, 8) === 3);
    const { c, published } = cluster({
      leases: { owned: () => [{ partition: '3', revision: 1 }] } as never,
      owner: {
        states: new Map([
          ['3', { spec: { id: '3' }, aggregator: new Aggregator(), latest: new LatestReports() }],
        ]),
      } as never,
    });
    // A frozen clock: evaluating costs nothing measurable and nothing refills.
    const clock = vi.spyOn(performance, 'now').mockReturnValue(5000);
    try {
      expect(creditOf(c).available).toBe(100);
      const answer = (reply: string) =>
        (c as unknown as { answer(q: unknown, reply: string): Promise<void> }).answer(
          { kind: 'evaluate', rules: [], targets: fleet, totals: [] },
          reply,
        );
      await Promise.all([answer('a'), answer('b')]);
    } finally {
      clock.mockRestore();
    }
    // Whichever answer is published first (the one with the credit yields between its slices), one pass
    // evaluated every target and the other deferred them all.
    const deferred = published.map((m) => m.items.filter(([k]) => k === 'D').length).sort((a, b) => a - b);
    expect(deferred).toEqual([0, fleet.length]);
    expect(creditOf(c).available).toBe(100);
  });

  it('refills the work credit at BEHIND_DUTY while its partitions have a backlog', async () => {
    let behind = true;
    const { c } = cluster({ behind: () => behind });
    const clock = vi.spyOn(performance, 'now');
    const credit = async () => {
      // Spent, then one idle second: the refill is what that second's duty gives (nothing is evaluated).
      clock.mockReturnValue(9000);
      creditOf(c).spend(creditOf(c).available);
      clock.mockReturnValue(10_000);
      await (c as unknown as { answer(q: unknown, reply: string): Promise<void> }).answer(
        { kind: 'evaluate', rules: [], targets: [], totals: [] },
        'reply',
      );
      return creditOf(c).available;
    };
    try {
      expect(await credit()).toBeCloseTo(1000 * BEHIND_DUTY);
      behind = false;
      expect(await credit()).toBe(100);
    } finally {
      clock.mockRestore();
    }
  });

  it('treats a malformed peer reply as a missing partition, without throwing', async () => {
    const part = (p: string, items: [string, unknown][]) => ({
      replica: 'r-2',
      p,
      rev: 1,
      i: 0,
      n: 1,
      items,
    });
    const log = logger();
    const { c } = cluster({
      logger: log,
      replies: () => [
        part('0', [['S', ['rule', 't1', 'not a number', []]]]),
        part('unmapped', [
          ['D', 't9'],
          ['W\u00001m\u0000r1', [4, 1]],
        ]),
      ],
    });
    const r = await c.evaluateAlerts([], ['t1', 't9'], ['1m']);
    expect(r.missing).toEqual(['0']);
    expect(r.value.deferred).toEqual(['t9']);
    expect(r.value.totals.get('1m')?.get('r1')).toEqual({ reports: 4, probeErrors: 1 });
    expect(log.warn).toHaveBeenCalled();
  });
});

/**
 * Replicas on an in-memory bus: a query reaches every replica's answer(), the asker reads what they
 * published (the reply subject is not looked at: one query at a time). `clock` runs while a query travels.
 */
function fleet(states: Record<string, Aggregator>, travelMs = 0) {
  const published: Uint8Array[] = [];
  /** What the answering replica sent, query by query. */
  const replies: { p: string; cover?: unknown }[][] = [];
  let answerer: Cluster | undefined;
  const nc = {
    publish: (_s: string, data: Uint8Array) => published.push(data),
    requestMany: async (_s: string, data: Uint8Array) => {
      published.length = 0;
      await (answerer as unknown as { answer(q: unknown, reply: string): Promise<void> }).answer(
        decodeJson(data),
        'reply',
      );
      const msgs = [...published];
      replies.push(msgs.map((m) => decodeJson(m) as { p: string; cover?: unknown }));
      clock.t += travelMs;
      return (async function* () {
        for (const m of msgs) yield { data: m };
      })();
    },
  };
  const ids = Object.keys(states);
  const common = {
    nc: nc as never,
    subject: 'q',
    leases: { owned: () => ids.map((partition) => ({ partition, revision: 7 })) } as never,
    owner: {
      states: new Map(
        ids.map((id) => [id, { spec: { id }, aggregator: states[id], latest: new LatestReports() }]),
      ),
    } as never,
    partitions: ids,
    deadlineMs: 100,
    logger: logger(),
    count: 8,
  };
  answerer = new Cluster({ ...common, replicaId: 'r-2' });
  const asker = new Cluster({ ...common, replicaId: 'r-1' });
  const clock = { t: 1_000_000 };
  return { asker, clock, replies };
}

describe('cluster summaries never hide reports a replica already counts', () => {
  const q = { window: '1h', groupBy: 'target' } as const;
  const add = (a: Aggregator, target: string) =>
    a.add(makeReport({ jobId: `j-${target}`, region: 'r1', targetId: target }));

  it('an internal fresh summary (the alerting seed) is not served to the API afterwards', async () => {
    const p0 = new Aggregator();
    add(p0, 't1');
    const { asker, clock } = fleet({ '0': p0 });
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock.t);
    try {
      // The alerting lease holder seeds its targets while reports are still arriving...
      const seed = await asker.summary(q, { fresh: true });
      expect(seed.value.map((g) => g.key)).toEqual(['t1']);
      add(p0, 't2');
      clock.t += 100;
      // ...then the API asks the same shape: every report the partition holds, not the seed's.
      const api = await asker.summary(q);
      expect(api.missing).toEqual([]);
      expect(api.value.map((g) => g.key)).toEqual(['t1', 't2']);
    } finally {
      now.mockRestore();
    }
  });

  it('a cached answer ages from when it was asked, not from when it arrived', async () => {
    const p0 = new Aggregator();
    add(p0, 't1');
    // An answer takes 900 ms to gather (a slow replica, a loaded machine).
    const { asker, clock } = fleet({ '0': p0 }, 900);
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock.t);
    try {
      expect((await asker.summary(q)).value.map((g) => g.key)).toEqual(['t1']);
      add(p0, 't2');
      // 3.1 s after it was asked (2.2 s after it arrived): past SUMMARY_STALE_MS, so asked again and waited for.
      clock.t += 2200;
      const later = await asker.summary(q);
      expect(later.value.map((g) => g.key)).toEqual(['t1', 't2']);
    } finally {
      now.mockRestore();
    }
  });

  it('serves the last whole answer while its refresh is on its way', async () => {
    const p0 = new Aggregator();
    add(p0, 't1');
    const { asker, clock } = fleet({ '0': p0 });
    const now = vi.spyOn(Date, 'now').mockImplementation(() => clock.t);
    const keys = async () => (await asker.summary(q)).value.map((g) => g.key);
    try {
      expect(await keys()).toEqual(['t1']);
      add(p0, 't2');
      // Past the cache's second, within SUMMARY_STALE_MS: the last answer at once, and a refresh starts.
      clock.t += 1200;
      expect(await keys()).toEqual(['t1']);
      await vi.waitFor(async () => expect(await keys()).toEqual(['t1', 't2']));
    } finally {
      now.mockRestore();
    }
  });

  it('falls back to accumulators when an unmapped partition shares a target with a numbered one', async () => {
    const p3 = new Aggregator();
    const unmapped = new Aggregator();
    add(p3, 't1');
    add(p3, 't2');
    add(unmapped, 't1');
    const { asker } = fleet({ '3': p3, unmapped });
    const r = await asker.summary(q);
    expect(r.missing).toEqual([]);
    expect(r.value.map((g) => [g.key, g.count])).toEqual([
      ['t1', 2],
      ['t2', 1],
    ]);
  });
});

describe('evaluate requests', () => {
  it('splits a large pass into requests NATS accepts, asking region totals once', async () => {
    const fleet = Array.from({ length: 60_000 }, (_, i) => `target-${String(i).padStart(12, '0')}`);
    const sizes: number[] = [];
    const totalsAsked: unknown[] = [];
    const nc = {
      publish: () => undefined,
      requestMany: async (_s: string, data: Uint8Array) => {
        sizes.push(data.byteLength);
        const q = decodeJson(data) as { targets: string[]; totals: string[]; hot?: string[] };
        totalsAsked.push(q.totals);
        const items: [string, unknown][] = q.targets.map((t) => ['D', t]);
        if (q.totals.length) items.push(['W\u00001m\u0000r1', [10, 0]]);
        return (async function* () {
          yield { data: encodeJson({ replica: 'r-2', p: '0', rev: 1, i: 0, n: 1, items }) };
        })();
      },
    };
    const { c } = cluster({ nc: nc as never, partitions: ['0'] });
    const r = await c.evaluateAlerts([], fleet, ['1m'], ['target-000000059999']);
    expect(r.missing).toEqual([]);
    expect(sizes.length).toBeGreaterThan(1);
    for (const n of sizes) expect(n).toBeLessThan(1024 * 1024);
    expect(new Set(r.value.deferred)).toEqual(new Set(fleet));
    expect(r.value.deferred[0]).toBe('target-000000059999');
    expect(totalsAsked.filter((t) => (t as string[]).length)).toHaveLength(1);
    expect(r.value.totals.get('1m')?.get('r1')).toEqual({ reports: 10, probeErrors: 0 });
  });

  it('groups targets under a byte limit, an oversize one alone', () => {
    expect(targetBatches([], 10)).toEqual([[]]);
    expect(targetBatches(['aa', 'bb', 'cc', 'dddddddddddd', 'e'], 10)).toEqual([
      ['aa', 'bb'],
      ['cc'],
      ['dddddddddddd'],
      ['e'],
    ]);
  });
});

describe('merged summary answers', () => {
  const q = { window: '1h', groupBy: 'region' } as const;
  // Partition '0' holds t1 (r1); partition 'unmapped' holds t2 (r1) and t3 (r2).
  const p0 = new Aggregator();
  const pu = new Aggregator();
  p0.add(makeReport({ jobId: 'j1', region: 'r1', targetId: 't1' }));
  pu.add(makeReport({ jobId: 'j2', region: 'r1', targetId: 't2' }));
  pu.add(makeReport({ jobId: 'j3', region: 'r2', targetId: 't3' }));
  const wire = (aggs: Aggregator[]) => {
    const acc = new Map();
    for (const a of aggs) a.partial(q, undefined, acc);
    return [...acc].map(([k, b]) => [k, bucketOut(b)]);
  };
  const merged = (replica: string, cover: [string, number][], aggs: Aggregator[]) => ({
    replica,
    p: `*${replica}`,
    rev: 0,
    i: 0,
    n: 1,
    items: wire(aggs),
    cover,
  });
  const single = (replica: string, p: string, rev: number, agg: Aggregator) => ({
    replica,
    p,
    rev,
    i: 0,
    n: 1,
    items: wire([agg]),
  });
  const counts = (groups: SummaryGroup[]) => Object.fromEntries(groups.map((g) => [g.key, g.count]));
  /** A cluster whose peers answer `merge` queries with `mergedReplies`, others with `splitReplies`. */
  const asking = (mergedReplies: unknown[], splitReplies: unknown[]) => {
    const asked: (boolean | undefined)[] = [];
    const { c } = cluster({
      replies: (query) => {
        const merge = (query as { merge?: boolean }).merge;
        asked.push(merge);
        return merge ? mergedReplies : splitReplies;
      },
    });
    return { c, asked };
  };

  it("counts a replica's merged answer as every partition it covers, and asks for one", async () => {
    const asked: unknown[] = [];
    const { c } = cluster({
      replies: (query) => {
        asked.push(query);
        return [
          merged(
            'r-2',
            [
              ['0', 3],
              ['unmapped', 3],
            ],
            [p0, pu],
          ),
        ];
      },
    });
    const r = await c.summary(q, { fresh: true });
    expect(r.missing).toEqual([]);
    expect(counts(r.value)).toEqual({ r1: 2, r2: 1 });
    expect(asked).toEqual([expect.objectContaining({ kind: 'summary', merge: true })]);
  });

  it('asks again per partition when a newer owner answers for a partition a merged answer covers', async () => {
    // Mid hand-over: r-3 took 'unmapped' over (revision 4) while r-2 still answers for it (3).
    const { c, asked } = asking(
      [
        single('r-3', 'unmapped', 4, pu),
        merged(
          'r-2',
          [
            ['0', 3],
            ['unmapped', 3],
          ],
          [p0, pu],
        ),
      ],
      [single('r-2', '0', 3, p0), single('r-2', 'unmapped', 3, pu), single('r-3', 'unmapped', 4, pu)],
    );
    const r = await c.summary(q, { fresh: true });
    // Not doubled: t2 and t3 once, from one owner.
    expect(counts(r.value)).toEqual({ r1: 2, r2: 1 });
    expect(r.missing).toEqual([]);
    expect(asked).toEqual([true, false]);
  });

  it('does not use a merged answer that covers a partition it does not know', async () => {
    const { c, asked } = asking(
      [
        merged(
          'r-2',
          [
            ['0', 3],
            ['9', 3],
          ],
          [p0, pu],
        ),
      ],
      [single('r-2', '0', 3, p0)],
    );
    const r = await c.summary(q, { fresh: true });
    expect(counts(r.value)).toEqual({ r1: 1 });
    expect(r.missing).toEqual(['unmapped']);
    expect(asked).toEqual([true, false]);
  });

  it("answers a region summary with one part covering the replica's partitions, a target one per partition", async () => {
    const { asker, replies } = fleet({ '0': p0, '1': pu });
    const r = await asker.summary(q, { fresh: true });
    expect(counts(r.value)).toEqual({ r1: 2, r2: 1 });
    expect(replies.at(-1)).toEqual([
      expect.objectContaining({
        p: '*r-2',
        cover: [
          ['0', 7],
          ['1', 7],
        ],
      }),
    ]);
    await asker.summary({ window: '1h', groupBy: 'target' }, { fresh: true });
    expect(replies.at(-1)?.map((m) => m.p)).toEqual(['0', '1']);
  });

  it('waits for a newer owner’s answer still arriving chunk by chunk, and uses it', async () => {
    const chunkOf = (i: number, n: number, items: unknown[]) => ({
      replica: 'r-3',
      p: '0',
      rev: 4,
      i,
      n,
      items,
    });
    const { c } = cluster({
      replies: () => [
        // The old owner's whole answer for '0' (t2, t3), the new owner's first chunk (t1), then 'unmapped'
        // whole (nothing in it): every partition has an answer, but a newer one for '0' is on its way.
        single('r-2', '0', 3, pu),
        chunkOf(0, 2, wire([p0])),
        single('r-2', 'unmapped', 3, new Aggregator()),
        chunkOf(1, 2, []),
      ],
    });
    const r = await c.summary(q, { fresh: true });
    expect(r.missing).toEqual([]);
    expect(counts(r.value)).toEqual({ r1: 1 });
  });

  it('merges per-partition answers from a replica that does not merge, with merged ones', async () => {
    const { c } = cluster({
      replies: () => [single('r-old', '0', 3, p0), merged('r-2', [['unmapped', 5]], [pu])],
    });
    const r = await c.summary(q, { fresh: true });
    expect(r.missing).toEqual([]);
    expect(counts(r.value)).toEqual({ r1: 2, r2: 1 });
  });
});

import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../../agent/index.js';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { StandInProber } from '../../agent/testing/stand-in.js';
import { Aggregator, type SummaryQuery } from '../../controller/aggregate/aggregator.js';
import { assignAll, partitionOf } from '../../controller/partition/hash.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { names } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { failed, report, rulesYaml, startReceiver } from '../alerting/helpers.js';
import { spawnLiveprobe, waitHttp } from '../helpers/cli.js';
import { makeReport, waitFor } from '../helpers/fleet.js';
import { freePort, startPartitionedNats, stopProcess, tempDir } from '../helpers/procs.js';

const N = 8;
/** Partition ids of an N-way deployment (controller/partition/hash.ts). */
const ALL = [...Array.from({ length: N }, (_, i) => String(i)), 'unmapped', 'legacy'];
/** Long enough that a frozen replica's partitions are still its own when the test asks (then they move). */
const LEASE_MS = 8000;

interface Replica {
  child: ChildProcess;
  url: string;
  pid: number;
}

/**
 * Three controller processes with partitioned ingest (8 partitions by the nats-server subject mapping) and
 * reports for 200 targets: every replica's fleet summary equals what one controller computes from the same
 * reports; a sweep created on one replica completes with reports the others ingested; a frozen replica
 * (SIGSTOP) makes answers `partial` (its partitions named, the rest exact), never wrong; a killed one
 * (SIGKILL) hands its partitions over within seconds, and no report is lost or counted twice.
 */
describe('partitioned ingest across three controller replicas', () => {
  const dir = tempDir('scale');
  const logger = createLogger('test', 'fatal');
  let nats: Awaited<ReturnType<typeof startPartitionedNats>>;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let agent: Agent | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const replicas: Replica[] = [];
  const stopped = new Set<number>();
  /** What a single controller computes from the same reports (the reference answer). */
  const reference = new Aggregator();
  let published = 0;

  const api = async (r: Replica, path: string, body?: unknown) => {
    const res = await fetch(`${r.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  type Summary = {
    groups: { key: string; count: number }[];
    partial?: boolean;
    missingPartitions?: string[];
  };
  const summary = async (r: Replica, q: string) =>
    (await api(r, `/v1/summary?${q}`)).body as unknown as Summary;
  const q1h = (groupBy: string): SummaryQuery => ({
    window: '1h',
    groupBy: groupBy as SummaryQuery['groupBy'],
  });
  const total = (s: Summary) => s.groups.reduce((n, g) => n + g.count, 0);
  /** partition -> holder replica id, from the leases bucket. */
  const owners = async () => {
    const kv = await new Kvm(nc).open('liveprobe_partitions');
    const out = new Map<string, string>();
    for (const p of ALL) {
      const e = await kv.get(`owner.${p}`);
      if (e?.operation === 'PUT') out.set(p, (decodeJson(e.value) as { holder: string }).holder);
    }
    return out;
  };
  const pidOf = (holder: string) => Number(/-(\d+)-[0-9a-f]{4}$/.exec(holder)?.[1]);
  const live = () => replicas.filter((r) => !stopped.has(r.pid));

  const publish = async (reports: Report[]) => {
    for (const r of reports) {
      await publisher.publish(r);
      reference.add(r);
      published++;
    }
  };
  const batch = (tag: string) =>
    Array.from({ length: 200 }, (_, i) =>
      makeReport({ jobId: `${tag}-${i}`, region: i % 2 ? 'r1' : 'r2', targetId: `t${i}`, agentId: 'pub' }),
    ).map(
      (r, i) =>
        ({
          ...r,
          metrics: { startup_ms: 50 + ((i * 37) % 900) },
          outcome: i % 9 ? r.outcome : 'failed',
        }) as Report,
    );

  beforeAll(async () => {
    receiver = await startReceiver('scale-hmac-secret-0123456789');
    const rules = join(dir.path, 'rules.yaml');
    writeFileSync(rules, rulesYaml(receiver.url, 'scale-hmac-secret-0123456789', ['hook']));
    nats = await startPartitionedNats(dir.path, N);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const child = spawnLiveprobe(['controller', '--port', String(port)], {
        NATS_URL: nats.url,
        LIVEPROBE_PARTITIONS: String(N),
        LIVEPROBE_PARTITION_LEASE_MS: String(LEASE_MS),
        // Generous on a loaded machine; still well inside the lease, so a frozen replica shows as partial.
        LIVEPROBE_MERGE_DEADLINE_MS: '3000',
        LIVEPROBE_EGRESS_ALLOW: LOOPBACK_RULES.join(','),
        LIVEPROBE_RULES_FILE: rules,
        LIVEPROBE_LOG_LEVEL: 'error',
      });
      replicas.push({ child, url: `http://127.0.0.1:${port}`, pid: child.pid as number });
    }
    // Three controllers start at once on a loaded machine: give them time.
    for (const r of replicas) await waitHttp(`${r.url}/healthz`, 90_000);
    nc = await connect({ servers: nats.url });
    publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    // Every partition owned, and the rebalance done: ownership is the plan every replica computes.
    await waitFor(
      'every partition owned as planned by the three replicas',
      async () => {
        const kv = await new Kvm(nc).open('liveprobe_partitions');
        const members: string[] = [];
        for await (const k of await kv.keys('member.>')) members.push(k.slice('member.'.length));
        const plan = assignAll(ALL, members.sort());
        const o = await owners();
        return members.length === 3 && ALL.every((p) => o.get(p) === plan.get(p));
      },
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await nc?.close();
    for (const r of replicas) {
      if (stopped.has(r.pid)) continue;
      r.child.kill('SIGCONT');
      await stopProcess(r.child);
    }
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('answers the whole fleet from every replica, equal to a single controller', async () => {
    // The live feed of one replica carries every report, whichever replica ingests it.
    const sse = new AbortController();
    const feed = await fetch(`${(replicas[2] as Replica).url}/v1/events?types=report`, {
      signal: sse.signal,
    });
    const seenOnFeed = new Set<string>();
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of feed.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (const m of buf.matchAll(/^data: (.*)$/gm))
          seenOnFeed.add((JSON.parse(m[1] as string) as Report).id);
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
        if (seenOnFeed.size >= 200) break;
      }
    })().catch(() => undefined);
    await publish(batch('a'));
    await waitFor('every report on one replica’s live feed', () => seenOnFeed.size >= 200, 30_000);
    sse.abort();
    await reading;
    expect(seenOnFeed.size).toBe(200);
    for (const r of replicas)
      await waitFor(
        `replica ${r.pid} counts every report`,
        async () => {
          const s = await summary(r, 'window=1h&groupBy=region');
          return !s.partial && total(s) === published;
        },
        30_000,
      );
    for (const groupBy of ['target', 'region', 'probe']) {
      const want = reference.summary(q1h(groupBy));
      for (const r of replicas) {
        // Healthy replicas answer whole (on a starved machine one may miss a deadline once: ask again).
        const got = await waitFor(
          `a whole ${groupBy} summary from replica ${r.pid}`,
          async () => {
            const s = await summary(r, `window=1h&groupBy=${groupBy}`);
            return s.partial ? undefined : s;
          },
          30_000,
        );
        expect(got.partial).toBeUndefined();
        expect(got.groups).toEqual(want);
      }
    }
    // The live feed is the fleet's, and /v1/series and the board too (a target lives in one partition).
    const series = await api(
      replicas[0] as Replica,
      '/v1/series?target=t3&metric=reports&window=15m&step=15m',
    );
    expect(
      (series.body.series as { values: (number | null)[] }[])[0]?.values.filter((v) => v !== null),
    ).toEqual([1]);
    // Each report was ingested by exactly one replica: the replicas' ingest counters add up to the fleet's.
    const ingested = async (r: Replica) =>
      Number(
        /^liveprobe_ingest_reports_total (\d+)$/m.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1],
      );
    const counts = await Promise.all(replicas.map(ingested));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(200);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
    // Each series is exported by the replica that owns it: summed over the scraped replicas (what
    // Prometheus does with sum without(instance)), every series counts its reports once.
    const perSeries = new Map<string, number>();
    for (const r of replicas) {
      const text = await (await fetch(`${r.url}/metrics`)).text();
      for (const m of text.matchAll(/^liveprobe_reports_total\{([^}]*)\} (\d+)$/gm)) {
        const labels = (m[1] as string).replace(/,?outcome="[^"]*"/, '');
        perSeries.set(labels, (perSeries.get(labels) ?? 0) + Number(m[2]));
      }
    }
    expect(perSeries.size).toBe(200);
    expect([...perSeries.values()].every((n) => n === 1)).toBe(true);
    const board = await waitFor(
      'a whole board',
      async () => {
        const b = await api(replicas[1] as Replica, '/v1/board');
        return b.body.partial ? undefined : b;
      },
      30_000,
    );
    expect((board.body.cells as unknown[]).length).toBe(200);
    // /v1/results lists the reports of every partition.
    const listed = await api(replicas[0] as Replica, '/v1/results?limit=500');
    expect((listed.body.reports as unknown[]).length).toBe(200);
  }, 60_000);

  it('reads the fleet’s live feed only while an event stream is open', async () => {
    const jsm = await jetstreamManager(nc);
    // The live feeds' consumers: ordered (no durable name) on every report subject.
    const feeds = async () => {
      let n = 0;
      for await (const c of jsm.consumers.list('LIVEPROBE_RESULTS'))
        if (
          c?.config &&
          !c.config.durable_name &&
          (c.config.filter_subjects ?? [c.config.filter_subject]).includes('liveprobe.results.>')
        )
          n++;
      return n;
    };
    await waitFor('no live feed consumer while nobody listens', async () => (await feeds()) === 0, 30_000);
    const sse = new AbortController();
    const res = await fetch(`${(replicas[0] as Replica).url}/v1/events?types=report`, { signal: sse.signal });
    expect(res.status).toBe(200);
    await waitFor('a live feed consumer for the open stream', async () => (await feeds()) === 1, 20_000);
    sse.abort();
    await waitFor('the consumer gone after the stream closed', async () => (await feeds()) === 0, 30_000);
  }, 90_000);

  it('completes a sweep created on one replica with reports the others ingest', async () => {
    const [a] = replicas as [Replica];
    for (let i = 0; i < 24; i++) {
      const res = await api(a, '/v1/targets', {
        id: `s${i}`,
        url: `http://127.0.0.1:1/s${i}.m3u8`,
        protocol: 'hls',
      });
      expect(res.status).toBe(201);
    }
    const config = loadConfig({
      env: {},
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'agent.region': 'r1',
        'agent.heartbeatS': 1,
        'agent.capacity.stream': 24,
      },
    });
    agent = await startAgent({
      config,
      logger,
      probers: { browser: new StandInProber('browser'), stream: new StandInProber('stream', { speed: 10 }) },
    });
    await waitFor(
      'the agent announced itself',
      async () => ((await api(a, '/v1/agents')).body as unknown as unknown[]).length === 1,
      20_000,
    );
    // Fleet-wide gauges (known alike to every replica) come from one replica only: summing is exact.
    await waitFor(
      'the agent gauge exported by exactly one replica',
      async () => {
        const texts = await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/metrics`)).text()));
        return (
          texts.filter((t) => /^liveprobe_agents\{region="r1",status="online"\} 1$/m.test(t)).length === 1
        );
      },
      20_000,
    );
    const ids = Array.from({ length: 24 }, (_, i) => `s${i}`);
    // The sweep's targets fall into several partitions, owned by different replicas.
    const o = await owners();
    const ingestedBy = new Set(ids.map((t) => o.get(String(partitionOf(t, N)))));
    expect(ingestedBy.size).toBeGreaterThan(1);
    const created = await api(a, '/v1/sweeps', {
      targets: ids,
      regions: ['r1'],
      probe: 'stream',
      durationS: 2,
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const done = await waitFor(
      'the sweep completes',
      async () => {
        const s = (await api(a, `/v1/sweeps/${id}`)).body as {
          state: string;
          perRegion: Record<string, { received: number; missing: number }>;
          reports: Report[];
        };
        return s.state === 'done' ? s : undefined;
      },
      60_000,
    );
    expect(done.perRegion.r1?.received).toBe(24);
    expect(done.perRegion.r1?.missing).toBe(0);
    // The sweep's reports are part of the fleet's figures from here on.
    for (const r of done.reports) {
      reference.add(r);
      published++;
    }
    await agent.stop();
    agent = undefined;
  }, 90_000);

  it('says partial, never wrong, while a replica is frozen', async () => {
    const o = await owners();
    const frozen = replicas[2] as Replica;
    const its = [...o]
      .filter(([, h]) => pidOf(h) === frozen.pid)
      .map(([p]) => p)
      .sort();
    expect(its.length).toBeGreaterThan(0);
    frozen.child.kill('SIGSTOP');
    try {
      // A whole answer cached before the freeze may still be served while it is young (stale-while-
      // revalidate, SUMMARY_STALE_MS in controller/partition/cluster.ts); then the answers say partial.
      const got = await waitFor(
        'a partial answer while a replica is frozen',
        async () => {
          const s = await summary(replicas[0] as Replica, 'window=1h&groupBy=target');
          return s.partial ? s : undefined;
        },
        15_000,
      );
      expect(got.partial).toBe(true);
      // The frozen replica's partitions are named (on a loaded machine a slow live one may join them).
      const missing = got.missingPartitions ?? [];
      expect(missing).toEqual(expect.arrayContaining(its));
      // Every group answered is exact; the frozen partitions' targets are left out, never guessed.
      const want = new Map(reference.summary(q1h('target')).map((g) => [g.key, g]));
      for (const g of got.groups) expect(g).toEqual(want.get(g.key));
      const left = [...want.keys()].filter((t) => missing.includes(String(partitionOf(t, N))));
      expect(left.length).toBeGreaterThan(0);
      expect(got.groups.length).toBe(want.size - left.length);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    await waitFor(
      'whole answers again after the replica resumed',
      async () => {
        const s = await summary(replicas[0] as Replica, 'window=1h&groupBy=target');
        return !s.partial && total(s) === published;
      },
      30_000,
    );
    for (const r of replicas)
      expect((await summary(r, 'window=1h&groupBy=target')).groups).toEqual(reference.summary(q1h('target')));
  }, 60_000);

  it('moves a killed replica’s partitions within seconds, losing and doubling nothing', async () => {
    const victim = replicas[1] as Replica;
    await stopProcess(victim.child, 'SIGKILL');
    stopped.add(victim.pid);
    await waitFor(
      'the killed replica’s partitions taken over',
      async () => {
        const o = await owners();
        return o.size === ALL.length && [...o.values()].every((h) => pidOf(h) !== victim.pid);
      },
      30_000,
    );
    await publish(batch('b'));
    for (const r of live())
      await waitFor(
        `replica ${r.pid} counts every report once`,
        async () => {
          const s = await summary(r, 'window=1h&groupBy=target');
          return !s.partial && total(s) === published;
        },
        30_000,
      );
    for (const r of live())
      expect((await summary(r, 'window=1h&groupBy=target')).groups).toEqual(reference.summary(q1h('target')));
  }, 60_000);

  it('pages once from the merged windows for a target another replica ingests, and resolves once', async () => {
    const kv = await new Kvm(nc).open('liveprobe_leases');
    const leader = await waitFor('an alerting lease holder', async () => {
      const e = await kv.get('alerting');
      return e?.operation === 'PUT' ? pidOf((decodeJson(e.value) as { holder: string }).holder) : undefined;
    });
    const o = await owners();
    // A target whose partition another replica owns: its reports never reach the lease holder's ingest.
    const target = await waitFor('a target ingested elsewhere', () =>
      Array.from({ length: 50 }, (_, i) => `x${i}`).find((t) => {
        const h = o.get(String(partitionOf(t, N)));
        return h !== undefined && pidOf(h) !== leader;
      }),
    );
    const hook = () => receiver.alerts('/hook').filter((a) => a.labels.target === target);
    let failing = true;
    let done = false;
    const loop = (async () => {
      while (!done) {
        await publish(
          ['eu', 'us'].map((region) => (failing ? failed(target, region) : report(target, region))),
        );
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    try {
      await waitFor('the page', () => hook().length > 0, 30_000);
      failing = false;
      await waitFor('the resolve notice', () => hook().length >= 2, 90_000);
    } finally {
      done = true;
      await loop;
    }
    expect(hook().map((a) => a.status)).toEqual(['firing', 'resolved']);
  }, 150_000);
});

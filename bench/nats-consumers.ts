/**
 * node dist/bench/nats-consumers.js — what partitioned ingest costs nats-server (docs/benchmarks.md,
 * bench:scale): the same stream of BENCH_NATS_N reports (2.7 kB, one subject per target x region, through
 * the partition mapping) drained by 18 filtered durable consumers (16 partitions + unmapped + legacy, as
 * controller/partition/ makes them) and by one unfiltered consumer (a single controller), each on a fresh
 * server. Prints nats-server CPU per delivered report, the drain's wall time, and the server CPU of one
 * consumer listing with their info (what the bench's progress poll and a consumer-info scrape cost).
 * BENCH_NATS_N (100000) reports, BENCH_NATS_PARTITIONS (16) partitions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';
import { cpuSeconds, printTable } from './lib.js';

const N = Number(process.env.BENCH_NATS_N ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_NATS_PARTITIONS ?? 16);
const LISTS = 10;
const BODY = new Uint8Array(2700);

async function run(filtered: boolean): Promise<Record<string, string | number>> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-nats-consumers-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `jetstream { store_dir: "${join(dir, 'store')}" }\nmappings: { "b.results.*.*.*": "b.results.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(${PARTITIONS},3)}}" }\n`,
  );
  const nats = await startNatsServer({ port: await freeLoopbackPort(), storeDir: dir, configFile: conf });
  const pid = nats.child.pid as number;
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: 'B', subjects: ['b.results.>'] });
    for (let i = 0; i < N; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, N - i) }, (_, j) => {
          const s = i + j;
          return js.publish(`b.results.r${s % 100}.agent-r${s % 100}.t${Math.floor(s / 100)}`, BODY);
        }),
      );
    }
    const filters = filtered
      ? [
          ...Array.from({ length: PARTITIONS }, (_, p) => `b.results.*.*.*.${p}`),
          'b.results.*.*.*',
          'b.results.*.*',
        ]
      : ['b.results.>'];
    for (const [i, filter_subject] of filters.entries())
      await jsm.consumers.add('B', { durable_name: `c${i}`, filter_subject, ack_policy: AckPolicy.All });
    // Consumer info at the start of the backlog (every report pending): the costliest moment.
    let cpu = cpuSeconds(pid);
    for (let k = 0; k < LISTS; k++) for await (const c of jsm.consumers.list('B')) void c?.num_pending;
    const listMs = ((cpuSeconds(pid) - cpu) / LISTS) * 1000;
    // The drain, as the controller's ingest reads: pulls of 1000, one cumulative ack per 500 reports.
    cpu = cpuSeconds(pid);
    const t0 = performance.now();
    let got = 0;
    let drained: () => void = () => undefined;
    const all = new Promise<void>((r) => {
      drained = r;
    });
    const stops: (() => void)[] = [];
    for (const i of filters.keys()) {
      const c = await js.consumers.get('B', `c${i}`);
      let n = 0;
      let last: { ack(): void } | undefined;
      const timer = setInterval(() => {
        last?.ack();
        last = undefined;
      }, 20);
      const msgs = await c.consume({
        max_messages: 1000,
        threshold_messages: 250,
        expires: 5000,
        callback: (m) => {
          last = m;
          if (++n % 500 === 0) {
            m.ack();
            last = undefined;
          }
          if (++got === N) drained();
        },
      });
      stops.push(() => {
        clearInterval(timer);
        msgs.stop();
      });
    }
    await all;
    const wall = (performance.now() - t0) / 1000;
    const drainCpu = cpuSeconds(pid) - cpu;
    for (const stop of stops) stop();
    return {
      consumers: filtered ? `${filters.length} filtered (partitioned)` : '1 unfiltered (single controller)',
      reports: N,
      'server µs / report': Math.round((drainCpu / N) * 1e6),
      'drain s': wall.toFixed(2),
      'reports/s': Math.round(N / wall),
      'server ms / consumer listing': Math.round(listMs),
    };
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = [await run(true), await run(false)];
  printTable(rows);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`nats-consumers failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

/**
 * npm run bench:controller — the controller under simulated fleet load, all on loopback:
 *  1. ingest: N realistic reports pre-published to JetStream, then drained by a controller process
 *     (JSON + validation + windows + events + ack); ingest_per_s is reports per CPU-second of that
 *     single-threaded process (= per core); the wall rate is printed beside it.
 *  2. SSE: reports published at a steady rate; publish -> SSE client receipt latency.
 *  3. API: autocannon (separate process) at 1000 req/s on GET /v1/summary, /v1/agents and /v1/targets,
 *     sampled for 10 s after a 3 s warm-up.
 *  3b. validation alone: zod vs the compiled validator ingest uses, per report, in this process.
 *  4. memory: heap per active series with 100k series (target x region x probe), 3 reports each.
 * Last line: ingest_per_s=<n> sse_p99_ms=<n> api_p99_ms=<n> bytes_per_series=<n>
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher } from '../agent/publisher.js';
import { stopChild } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';
import { Aggregator } from '../controller/aggregate/aggregator.js';
import { parseReport } from '../shared/fast-parse.js';
import { createLogger } from '../shared/log.js';
import { Report } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { decodeJson, encodeJson } from '../shared/transport.js';
import { benchNats, cpuSeconds, cpuTimes, percentile, printTable, startControllerProcess } from './lib.js';
import { realisticReport } from './report-fixture.js';

const N_INGEST = Number(process.env.BENCH_INGEST_N ?? 60_000);
const N_SERIES_MEM = 100_000;
/** BENCH_PHASES=ingest: the ingest phase only (profiling, before/after comparisons of the ingest path). */
const INGEST_ONLY = process.env.BENCH_PHASES === 'ingest';
const logger = createLogger('bench', 'warn');

/**
 * Reports the controller has acked so far, read from the consumer's state in nats-server (scraping the
 * controller's own /metrics every few ms would cost the controller more than the ingest being measured).
 */
async function ingestedCount(jsm: JetStreamManager): Promise<number> {
  const info = await jsm.consumers.info(names().resultsStream, names().ingestConsumer);
  return info.ack_floor.consumer_seq;
}

async function main(): Promise<void> {
  const nats = await benchNats();
  const rows: Record<string, string | number>[] = [];
  const children: ChildProcess[] = [];
  try {
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const n = names();
    const port = await freeLoopbackPort();
    const url = `http://127.0.0.1:${port}`;

    // 1. ingest. The controller creates its streams, stops; reports are published while it is down; a
    // fresh controller (no start-up replay) then drains them through the durable ingest consumer.
    const first = await startControllerProcess(nats.url, port);
    await stopChild(first);
    const t0 = performance.now();
    for (let i = 0; i < N_INGEST; i += 1000) {
      const batch = [];
      for (let k = i; k < Math.min(N_INGEST, i + 1000); k++) {
        const r = realisticReport(k, 500);
        batch.push(js.publish(n.results(r.region, r.agentId, r.target.id), encodeJson(r), { msgID: r.id }));
      }
      await Promise.all(batch);
    }
    const publishPerS = Math.round(N_INGEST / ((performance.now() - t0) / 1000));
    const controller = await startControllerProcess(nats.url, port, { LIVEPROBE_REBUILD_WINDOW_S: '0' });
    children.push(controller);
    const pid = controller.pid as number;
    let startCount = 0;
    let startAt = 0;
    let startCpu = 0;
    let startTimes = { user: 0, system: 0 };
    for (;;) {
      const c = await ingestedCount(jsm);
      const now = performance.now();
      if (!startAt && c > 0) {
        startCount = c;
        startAt = now;
        startCpu = cpuSeconds(pid);
        startTimes = cpuTimes(pid);
      }
      if (c >= N_INGEST) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const wallS = (performance.now() - startAt) / 1000;
    const cpuS = cpuSeconds(pid) - startCpu;
    const endTimes = cpuTimes(pid);
    const drained = N_INGEST - startCount;
    // Per core = reports per CPU-second of the (single-threaded) controller process: on a shared 2-core
    // machine the wall rate also depends on what nats-server and neighbours get from the other core.
    const ingestPerS = Math.round(drained / cpuS);
    const ingestWallPerS = Math.round(drained / wallS);
    rows.push({
      phase: 'ingest',
      what: `${N_INGEST} reports of ${(JSON.stringify(realisticReport(1, 1)).length / 1024).toFixed(1)} kB (JSON + validation + windows + ack), controller process`,
      result: `${ingestPerS}/CPU-second (per core; user ${(endTimes.user - startTimes.user).toFixed(2)} s, system ${(endTimes.system - startTimes.system).toFixed(2)} s), ${ingestWallPerS}/s wall (publish ${publishPerS}/s)`,
    });
    if (INGEST_ONLY) {
      await nc.close();
      printTable(rows);
      process.stdout.write(`ingest_per_s=${ingestPerS}\n`);
      return;
    }

    // 2. SSE latency: publish -> receipt by an SSE client, at ~200 reports/s.
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/events?types=report`, { signal: abort.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const sentAt = new Map<string, number>();
    const lat: number[] = [];
    const SSE_N = 1000;
    const reading = (async () => {
      let buf = '';
      const dec = new TextDecoder();
      while (lat.length < SSE_N) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let idx = buf.indexOf('\n\n');
        while (idx >= 0) {
          const chunk = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          const m = /"id":"(sse-[^"]+)"/.exec(chunk);
          const t = m ? sentAt.get(m[1] as string) : undefined;
          if (t !== undefined) lat.push(performance.now() - t);
          idx = buf.indexOf('\n\n');
        }
      }
    })();
    const publisher = new JetStreamPublisher({ js, names: n, logger });
    for (let i = 0; i < SSE_N; i++) {
      const r = { ...realisticReport(i, 50), id: `sse-${randomUUID()}:0`, jobId: 'sse' };
      sentAt.set(r.id, performance.now());
      void publisher.publish(r);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await reading;
    abort.abort();
    lat.sort((a, b) => a - b);
    const sseP99 = Math.round(percentile(lat, 0.99));
    rows.push({
      phase: 'sse',
      what: `${SSE_N} reports at ~200/s, publish -> SSE client`,
      result: `p50 ${Math.round(percentile(lat, 0.5))} ms, p99 ${sseP99} ms`,
    });

    // 3. API at 1000 req/s from a separate autocannon process.
    const autocannon = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
    let apiP99 = 0;
    const series = (await (await fetch(`${url}/v1/summary?window=1h&groupBy=target`)).json()) as {
      groups: unknown[];
    };
    for (const path of ['/v1/summary?window=5m&groupBy=region', '/v1/agents', '/v1/targets']) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        // A 3 s warm-up at the same rate first, not sampled: a controller on event night is long-running,
        // and the first seconds after start-up (JIT, the first summary computations) are not its steady state.
        [
          autocannon,
          '-j',
          '-c',
          '20',
          '-R',
          '1000',
          '-d',
          '10',
          '-W',
          '[',
          '-c',
          '20',
          '-d',
          '3',
          ']',
          `${url}${path}`,
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      // With a warm-up autocannon prints two results, one a line: the warm-up's, then the sampled one.
      const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
        latency: { p50: number; p99: number };
        requests: { average: number };
        non2xx: number;
      };
      apiP99 = Math.max(apiP99, out.latency.p99);
      rows.push({
        phase: 'api',
        what: `GET ${path} at 1000 req/s, 20 connections, 10 s after 3 s warm-up (${series.groups.length} targets in the windows)`,
        result: `${Math.round(out.requests.average)} req/s, p50 ${out.latency.p50} ms, p99 ${out.latency.p99} ms, non-2xx ${out.non2xx}`,
      });
    }
    await nc.close();

    // 3b. validation alone, side by side in this process: zod vs the validator compiled from it (ingest's).
    const VALIDATE_N = 20_000;
    const bufs = Array.from({ length: VALIDATE_N }, (_, i) => encodeJson(realisticReport(i, 500)));
    const perReportUs = (parse: (x: unknown) => { success: boolean }): number => {
      // Freshly decoded objects each round (the compiled validator fills defaults in place); best of 3.
      let best = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        const objs = bufs.map((b) => decodeJson(b));
        const t = performance.now();
        for (const o of objs) if (!parse(o).success) throw new Error('fixture report rejected');
        best = Math.min(best, performance.now() - t);
      }
      return (best / VALIDATE_N) * 1000;
    };
    const zodUs = perReportUs((x) => Report.safeParse(x));
    const compiledUs = perReportUs(parseReport);
    rows.push({
      phase: 'validate',
      what: `${VALIDATE_N} decoded reports, in this process: zod Report.safeParse vs the compiled validator (ingest)`,
      result: `zod ${zodUs.toFixed(1)} µs, compiled ${compiledUs.toFixed(1)} µs per report`,
    });

    // 4. memory per active series, in this process (the windows' data structure on its own).
    const gc = (globalThis as { gc?: () => void }).gc;
    const agg = new Aggregator();
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const now = Date.now();
    for (let i = 0; i < N_SERIES_MEM * 3; i++) {
      const r = realisticReport(i % N_SERIES_MEM, N_SERIES_MEM, now - (i / N_SERIES_MEM) * 60_000);
      r.target.id = `t${i % N_SERIES_MEM}`;
      agg.add(r);
    }
    gc?.();
    const bytesPerSeries = Math.round((process.memoryUsage().heapUsed - before) / agg.size);
    rows.push({
      phase: 'memory',
      what: `${agg.size} series (target x region x probe), 3 reports each in the hour${gc ? '' : ' (run with --expose-gc for exact figures)'}`,
      result: `${bytesPerSeries} bytes/series`,
    });

    printTable(rows);
    process.stdout.write(
      `ingest_per_s=${ingestPerS} sse_p99_ms=${sseP99} api_p99_ms=${apiP99} bytes_per_series=${bytesPerSeries}\n`,
    );
  } finally {
    for (const c of children) await stopChild(c);
    await nats.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:controller failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

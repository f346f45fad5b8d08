/**
 * npm run bench:ingest — the controller's per-report ingest work on one core, without NATS: encoded reports
 * go through the same `Ingest.handle` the consumer calls (decode, validation, subject check, id memory)
 * and the same per-report handlers the controller wires to it (windows, last reports, /metrics series,
 * alerting evidence). What it leaves out is the NATS client's own parsing and the acks (one per 500
 * reports), so it isolates the cost this repository's code decides.
 *
 * Scenarios (BENCH_INGEST_SCENARIOS, comma-separated; default all):
 *  - steady: 60 000 reports over 500 targets x 6 regions, as bench:controller publishes them;
 *  - fleet:  one report for each of 100 regions x 1000 targets, as bench:scale's priming backlog (every
 *            report opens a new series);
 *  - sampled: steady, but every report carries sample sketches (bench/report-fixture.ts `withSketches`);
 *  - cardinality: bench:scale's measured window in one process: a pass over 100 regions x 1000 targets
 *            opens the series (not timed), then two more passes report into them (timed).
 * Each scenario runs BENCH_INGEST_ROUNDS (5) rounds on fresh state after one warm-up round; the figure is
 * the median round's reports per CPU-second (process.cpuUsage: user + system, GC included).
 *
 * Last line: steady_per_cpu_s=<n> fleet_per_cpu_s=<n> sampled_per_cpu_s=<n> cardinality_per_cpu_s=<n>
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { JsMsg } from '@nats-io/jetstream';
import { createLogger } from '../shared/log.js';
import type { Report } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import { type IngestCode, ingestState, loadIngestCode } from './ingest-code.js';
import { printTable } from './lib.js';
import { fleetReport, realisticReport, withSketches } from './report-fixture.js';

const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 5);
/**
 * BENCH_INGEST_COMPARE=<another build's dist/>: its controller code runs too, round for round alternately
 * with this build's on the same messages, so a before/after comparison sees the same machine load.
 */
const COMPARE = process.env.BENCH_INGEST_COMPARE;
const SCENARIOS = (process.env.BENCH_INGEST_SCENARIOS ?? 'steady,fleet,sampled,cardinality').split(',');
const n = names();
const logger = createLogger('bench', 'error');

interface FakeMsg {
  data: Uint8Array;
  subject: string;
  reply: string;
  seq: number;
  ack(): void;
}

function messages(reports: Report[]): FakeMsg[] {
  return reports.map((r, i) => ({
    data: encodeJson(r),
    subject: n.results(r.region, r.agentId, r.target.id),
    reply: `$JS.ACK.${n.resultsStream}.${n.ingestConsumer}.1.${i + 1}.${i + 1}.1796300000000000000.0`,
    seq: i + 1,
    ack() {},
  }));
}

/** A scenario's messages; `untimed` go in first on each round's fresh state, outside its count. */
interface Scenario {
  untimed: FakeMsg[];
  timed: FakeMsg[];
}

function scenario(name: string): Scenario {
  if (name === 'cardinality') {
    const now = Date.now();
    // Pass p at its own time (2 s apart, as a watch reports): later passes land in the series' buckets.
    const pass = (p: number) => {
      const out: Report[] = [];
      for (let t = 0; t < 1000; t++)
        for (let r = 0; r < 100; r++) out.push(fleetReport('b', r, t, p, now - (2 - p) * 2000));
      return out;
    };
    const all = messages([...pass(0), ...pass(1), ...pass(2)]);
    return { untimed: all.slice(0, 100_000), timed: all.slice(100_000) };
  }
  return { untimed: [], timed: timedScenario(name) };
}

function timedScenario(name: string): FakeMsg[] {
  const now = Date.now();
  if (name === 'steady')
    return messages(Array.from({ length: 60_000 }, (_, i) => realisticReport(i, 500, now)));
  if (name === 'sampled')
    return messages(Array.from({ length: 60_000 }, (_, i) => withSketches(realisticReport(i, 500, now), i)));
  if (name === 'fleet') {
    const out: Report[] = [];
    for (let t = 0; t < 1000; t++) for (let r = 0; r < 100; r++) out.push(fleetReport('b', r, t, 0, now));
    return messages(out);
  }
  throw new Error(`unknown scenario ${name}`);
}

/** Garbage-collection pause time observed so far (ms), to say how much of a round GC took. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

/** One round on fresh controller state: reports per CPU-second, and the share of it in GC pauses. */
async function round(
  code: IngestCode,
  { untimed, timed: msgs }: Scenario,
): Promise<{ rate: number; gcShare: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 50)); // the forced GC's entry, before the round's count starts
  let handled = 0;
  const { metrics, ingest } = ingestState(code, { names: n, logger, afterEach: () => handled++ });
  for (const m of untimed) ingest.handle(m as unknown as JsMsg);
  handled = 0;
  const gc0 = gcMs;
  const before = process.cpuUsage();
  for (const m of msgs) ingest.handle(m as unknown as JsMsg);
  const used = process.cpuUsage(before);
  const cpuMs = (used.user + used.system) / 1000;
  if (handled !== msgs.length)
    throw new Error(`handled ${handled} of ${msgs.length} (invalid ${ingest.stats.invalid})`);
  // GC entries are delivered after the synchronous loop: let them arrive.
  await new Promise((r) => setTimeout(r, 50));
  // The default process metrics stay registered with Node (GC observer, event-loop monitor) and would keep
  // this round's registry, and with it every series, alive into the next rounds.
  // (Before this, each 100k-series round left ~380 MB behind and the later rounds paid for it in GC.)
  metrics.registry.clear();
  return { rate: msgs.length / (cpuMs / 1000), gcShare: (gcMs - gc0) / cpuMs };
}

const codes = [await loadIngestCode('this build', new URL('../', import.meta.url))];
if (COMPARE) codes.push(await loadIngestCode(COMPARE, pathToFileURL(`${COMPARE.replace(/\/$/, '')}/`)));
const rows: Record<string, string | number>[] = [];
const last: string[] = [];
for (const name of SCENARIOS) {
  const msgs = scenario(name);
  for (const code of codes) await round(code, msgs); // warm-up: JIT, caches
  const runs = codes.map(() => [] as { rate: number; gcShare: number }[]);
  for (let k = 0; k < ROUNDS; k++)
    for (let c = 0; c < codes.length; c++) runs[c]?.push(await round(codes[c] as IngestCode, msgs));
  codes.forEach((code, c) => {
    const sorted = (runs[c] ?? []).sort((a, b) => a.rate - b.rate);
    const mid = sorted[Math.floor(sorted.length / 2)] as { rate: number; gcShare: number };
    const median = Math.round(mid.rate);
    const bytes = msgs.timed.reduce((s, m) => s + m.data.length, 0) / msgs.timed.length;
    rows.push({
      scenario: name,
      ...(COMPARE ? { code: code.label } : {}),
      reports: msgs.timed.length,
      'bytes/report': Math.round(bytes),
      'per CPU-s (median)': median,
      'µs/report': (1e6 / median).toFixed(1),
      'GC share': `${Math.round(mid.gcShare * 100)} %`,
      rounds: sorted.map((r) => Math.round(r.rate)).join(' '),
    });
    if (c === 0) last.push(`${name}_per_cpu_s=${median}`);
    else last.push(`${name}_compare_per_cpu_s=${median}`);
  });
}
printTable(rows);
process.stdout.write(`${last.join(' ')}\n`);
process.exit(0);

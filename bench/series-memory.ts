/**
 * npm run bench:memory — what the controller holds per series once the windows are full: an hour of
 * reports at a watch's interval, through the same decode and per-report handlers as ingest (windows, last
 * reports, /metrics series, alerting evidence), on a simulated clock (an hour of reports in seconds).
 * bench:scale opens 100 000 series with three reports each, a minute of a fleet; this is the rest of
 * the hour, where each series' windows hold up to 240 buckets of 15 s.
 *
 * For each interval in BENCH_MEMORY_INTERVALS (seconds; default 2,10,60), 100 regions x 20 targets and then
 * 100 regions x 40 targets (BENCH_MEMORY_TARGETS=20,40) report every interval for an hour. A series' cost is the difference in heap
 * (after a full GC) between the two, per series added: that includes its share of its target's rollup
 * (1 in 100 regions) as in a fleet of 100 regions, and leaves out the fixed region and probe rollups, which
 * the projection to 100 000 series adds back once. Also: the ingest CPU per report over the last 10 % of
 * the hour (windows full), in the larger run. BENCH_MEMORY_COMPARE=<another build's dist/> runs that
 * build's controller code too, on the same reports.
 *
 * Last line: kb_per_series_<interval>s=<n> ... us_per_report_<interval>s=<n> ...
 */
import { pathToFileURL } from 'node:url';
import type { JsMsg } from '@nats-io/jetstream';
import { createLogger } from '../shared/log.js';
import { names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import { type IngestCode, ingestState, loadIngestCode } from './ingest-code.js';
import { printTable } from './lib.js';
import { fleetReport } from './report-fixture.js';

const INTERVALS = (process.env.BENCH_MEMORY_INTERVALS ?? '2,10,60').split(',').map(Number);
const COMPARE = process.env.BENCH_MEMORY_COMPARE;
const HOUR_MS = 3_600_000;
/** As in bench:scale's fleet: a target's rollup is shared by 100 regions' series. */
const REGIONS = 100;
/**
 * The two fleet sizes compared (targets of 100 regions). At 20 and more, every region's rollup bucket holds
 * enough reports to be sketches in both runs; at 10, a slow interval's stayed keys in one run and not the
 * other, and the difference measured the rollups instead of the series.
 */
const TARGET_STEPS = (process.env.BENCH_MEMORY_TARGETS ?? '20,40').split(',').map(Number) as [number, number];
const n = names();
const logger = createLogger('bench', 'error');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:memory does)');

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

/** An hour of one interval: the heap its state holds after it, and CPU per report over its last tenth. */
function hour(
  code: IngestCode,
  intervalS: number,
  targets: number,
): { heapMb: number; usPerReport: number; reports: number } {
  const series = REGIONS * targets;
  const start = Date.now() - HOUR_MS;
  let clock = start;
  const now = () => clock;
  const before = heapMb();
  const { aggregator, latest, metrics, recent, ingest } = ingestState(code, { names: n, logger, now });
  const passes = Math.floor(HOUR_MS / (intervalS * 1000));
  const timedFrom = Math.floor(passes * 0.9);
  let cpuUs = 0;
  let timed = 0;
  let seq = 0;
  let lastEvict = start;
  for (let p = 0; p < passes; p++) {
    clock = start + (p + 1) * intervalS * 1000;
    // Encoded outside the timed part: the agents' work, not the controller's.
    const msgs = Array.from({ length: series }, (_, s) => {
      // A stream watch's interval report (every series a stream watch here, whatever the fixture's kind).
      const r = {
        ...fleetReport('m', s % REGIONS, Math.floor(s / REGIONS), p, clock),
        probe: 'stream' as const,
      };
      seq++;
      return {
        data: encodeJson(r),
        subject: n.results(r.region, r.agentId, r.target.id),
        reply: `$JS.ACK.${n.resultsStream}.${n.ingestConsumer}.1.${seq}.${seq}.1796300000000000000.0`,
        seq,
        ack() {},
      };
    });
    const c0 = process.cpuUsage();
    for (const m of msgs) ingest.handle(m as unknown as JsMsg);
    if (p >= timedFrom) {
      const c = process.cpuUsage(c0);
      cpuUs += c.user + c.system;
      timed += msgs.length;
    }
    // As the controller's minute timer does.
    if (clock - lastEvict >= 60_000) {
      lastEvict = clock;
      aggregator.evict();
      metrics.evict();
      latest.evict(clock - HOUR_MS);
      recent.evict(clock);
    }
  }
  if (ingest.stats.ingested !== passes * series)
    throw new Error(
      `ingested ${ingest.stats.ingested} of ${passes * series} (invalid ${ingest.stats.invalid})`,
    );
  const held = heapMb() - before;
  // Kept alive until measured; the registry stays reachable from Node's process metrics otherwise.
  metrics.registry.clear();
  if (aggregator.size !== series) throw new Error(`${aggregator.size} series held, ${series} expected`);
  return { heapMb: held, usPerReport: cpuUs / timed, reports: passes * series };
}

const codes = [await loadIngestCode('this build', new URL('../', import.meta.url))];
if (COMPARE) codes.push(await loadIngestCode(COMPARE, pathToFileURL(`${COMPARE.replace(/\/$/, '')}/`)));
const rows: Record<string, string | number>[] = [];
const last: string[] = [];
const cpuLast: string[] = [];
for (const intervalS of INTERVALS) {
  for (const [c, code] of codes.entries()) {
    const [small, large] = TARGET_STEPS.map((t) => hour(code, intervalS, t)) as [
      ReturnType<typeof hour>,
      ReturnType<typeof hour>,
    ];
    const added = REGIONS * (TARGET_STEPS[1] - TARGET_STEPS[0]);
    const kbPerSeries = ((large.heapMb - small.heapMb) * 1000) / added;
    const fixedMb = small.heapMb - (kbPerSeries * REGIONS * TARGET_STEPS[0]) / 1000;
    rows.push({
      'interval s': intervalS,
      ...(COMPARE ? { code: code.label } : {}),
      'reports (1 h, larger run)': large.reports,
      [`heap MB (${REGIONS * TARGET_STEPS[0]} / ${REGIONS * TARGET_STEPS[1]} series)`]: `${small.heapMb.toFixed(0)} / ${large.heapMb.toFixed(0)}`,
      'KB per series': Math.round(kbPerSeries),
      'GB at 100k series': ((fixedMb + (kbPerSeries * 100_000) / 1000) / 1000).toFixed(1),
      'µs/report (last 10 %)': large.usPerReport.toFixed(1),
    });
    const suffix = c === 0 ? '' : '_compare';
    last.push(`kb_per_series_${intervalS}s${suffix}=${Math.round(kbPerSeries)}`);
    cpuLast.push(`us_per_report_${intervalS}s${suffix}=${large.usPerReport.toFixed(1)}`);
  }
}
printTable(rows);
process.stdout.write(`${[...last, ...cpuLast].join(' ')}\n`);
process.exit(0);

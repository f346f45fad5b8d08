import type { Logger } from '../shared/log.js';
import type { Names } from '../shared/subjects.js';

/**
 * The controller's ingest code (the per-report handlers the controller wires to `Ingest`), loaded from this
 * build or from another build's dist/ for a side-by-side comparison (bench:ingest, bench:memory).
 */
export interface IngestCode {
  label: string;
  Aggregator: typeof import('../controller/aggregate/aggregator.js').Aggregator;
  RecentReports: typeof import('../controller/alerting/evidence.js').RecentReports;
  Ingest: typeof import('../controller/ingest.js').Ingest;
  LatestReports: typeof import('../controller/latest.js').LatestReports;
  ControllerMetrics: typeof import('../controller/metrics.js').ControllerMetrics;
}

/** `root`: the dist/ directory to load from (this build's: `new URL('../', import.meta.url)` in a bench). */
export async function loadIngestCode(label: string, root: URL): Promise<IngestCode> {
  const at = (p: string) => new URL(p, root).href;
  return {
    label,
    Aggregator: (await import(at('controller/aggregate/aggregator.js'))).Aggregator,
    RecentReports: (await import(at('controller/alerting/evidence.js'))).RecentReports,
    Ingest: (await import(at('controller/ingest.js'))).Ingest,
    LatestReports: (await import(at('controller/latest.js'))).LatestReports,
    ControllerMetrics: (await import(at('controller/metrics.js'))).ControllerMetrics,
  };
}

/**
 * Fresh controller state with its handlers wired to an `Ingest` as the controller wires them (windows,
 * last reports, /metrics series, alerting evidence); `afterEach` runs after them for each report.
 */
export function ingestState(
  code: IngestCode,
  opts: { names: Names; logger: Logger; now?: () => number; afterEach?: () => void },
) {
  const aggregator = new code.Aggregator(opts.now ? { now: opts.now } : {});
  const latest = new code.LatestReports();
  const metrics = new code.ControllerMetrics(aggregator);
  const recent = new code.RecentReports();
  const ingest = new code.Ingest({
    js: undefined as never,
    names: opts.names,
    logger: opts.logger,
    onReport: (r) => {
      aggregator.add(r);
      latest.add(r);
      metrics.observe(r);
      recent.add(r);
      opts.afterEach?.();
    },
  });
  return { aggregator, latest, metrics, recent, ingest };
}

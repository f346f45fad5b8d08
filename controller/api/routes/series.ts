import { z } from 'zod';
import { SubjectToken } from '../../../shared/ids.js';
import { ProbeKind } from '../../../shared/schemas.js';
import { BUCKET_MS, SKETCHED, type SketchedMetric, type SummaryGroup } from '../../aggregate/aggregator.js';
import type { App, Services } from '../server.js';
import { PartialFields, partialOf } from './summary.js';

/** Figures a series can follow besides the sketched latencies (those take agg=p50|p95|p99). */
const COUNTED = [
  'success_ratio',
  'rebuffer_ratio',
  'reports',
  'outcome_failed',
  'outcome_degraded',
  'outcome_probe_error',
  'errors_http',
  'errors_network',
  'errors_player',
  'errors_conformance',
  'findings',
] as const;
const SeriesMetric = z.enum([...SKETCHED, ...COUNTED]);
type SeriesMetric = z.infer<typeof SeriesMetric>;

const DURATION = /^(\d+)(s|m|h)$/;
const UNIT = { s: 1000, m: 60_000, h: 3_600_000 } as const;
const durationMs = (v: string) => {
  const m = DURATION.exec(v);
  return m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : Number.NaN;
};

export const SeriesQuery = z
  .object({
    target: SubjectToken,
    metric: SeriesMetric,
    /** Quantile of a latency metric (ignored for counted ones). */
    agg: z.enum(['p50', 'p95', 'p99']).default('p95'),
    window: z
      .string()
      .regex(DURATION, 'a duration such as 15m or 1h')
      .default('1h')
      .refine(
        (v) => durationMs(v) > 0 && durationMs(v) <= 3_600_000,
        'at most 1h (the windows keep an hour)',
      ),
    step: z
      .string()
      .regex(DURATION, 'a duration such as 15s or 1m')
      .default('15s')
      .refine((v) => durationMs(v) >= BUCKET_MS && durationMs(v) % BUCKET_MS === 0, 'a multiple of 15s'),
    region: SubjectToken.optional(),
    probe: ProbeKind.optional(),
  })
  .refine((q) => durationMs(q.window) / durationMs(q.step) <= 240, {
    path: ['step'],
    message: 'at most 240 steps per series',
  });

export const SeriesResponse = z.object({
  target: z.string(),
  metric: z.string(),
  agg: z.string().optional(),
  /** Start of each step, ms since the epoch (shared by every region). */
  times: z.array(z.number()),
  step_ms: z.number(),
  series: z.array(z.object({ region: z.string(), values: z.array(z.number().nullable()) })),
  ...PartialFields,
});

/** The figure of one step; null where the region had no report (a gap in the line, not a zero). */
export function pick(g: SummaryGroup | undefined, metric: SeriesMetric, agg: 'p50' | 'p95' | 'p99') {
  if (!g) return null;
  switch (metric) {
    case 'success_ratio':
      return g.success_ratio;
    case 'rebuffer_ratio':
      return g.rebuffer_ratio;
    case 'reports':
      return g.count;
    case 'outcome_failed':
      return g.outcomes.failed;
    case 'outcome_degraded':
      return g.outcomes.degraded;
    case 'outcome_probe_error':
      return g.outcomes['probe-error'];
    case 'errors_http':
      return g.errors.http;
    case 'errors_network':
      return g.errors.network;
    case 'errors_player':
      return g.errors.player;
    case 'errors_conformance':
      return g.errors.conformance;
    case 'findings':
      return Object.values(g.findings).reduce((a, b) => a + (b ?? 0), 0);
    default:
      return g.metrics[metric as SketchedMetric]?.[agg] ?? null;
  }
}

/**
 * History of one figure of a target, one line per region, from the aggregation windows (the last hour in
 * 15 s buckets): what the command center's target view charts.
 */
export const seriesRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/v1/series',
    {
      schema: {
        description:
          'History of one figure of a target over the last hour at most, one line per region, from the aggregation windows. Latency metrics take agg (p50|p95|p99); null marks a step without reports.',
        querystring: SeriesQuery,
        response: { 200: SeriesResponse },
      },
    },
    async (req) => {
      const q = req.query;
      const stepMs = durationMs(q.step);
      const tq = {
        target: q.target,
        region: q.region,
        probe: q.probe,
        fromMs: Date.now() - durationMs(q.window),
        stepMs,
      };
      const merged = s.cluster ? await s.cluster.timeline(tq) : undefined;
      const tl = merged ? merged.value : s.aggregator.timeline(tq);
      const sketched = (SKETCHED as readonly string[]).includes(q.metric);
      return {
        target: q.target,
        metric: q.metric,
        agg: sketched ? q.agg : undefined,
        times: tl.times,
        step_ms: stepMs,
        series: tl.regions.map((r) => ({
          region: r.region,
          values: r.steps.map((g) => pick(g, q.metric, q.agg)),
        })),
        ...partialOf(merged?.missing ?? []),
      };
    },
  );
};

import { z } from 'zod';
import { SubjectToken } from '../../../shared/ids.js';
import { FindingCode } from '../../../shared/metrics.js';
import { ProbeKind } from '../../../shared/schemas.js';
import { GROUP_BY, SKETCHED, WINDOWS } from '../../aggregate/aggregator.js';
import type { App, Services } from '../server.js';

const SummaryQuerySchema = z.object({
  window: z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS]).default('5m'),
  /** region | target | probe | label:<name> (the value of that label on each series' target). */
  groupBy: z
    .union([z.enum(GROUP_BY), z.templateLiteral(['label:', z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/)])])
    .default('target'),
  target: SubjectToken.optional(),
  region: SubjectToken.optional(),
  probe: ProbeKind.optional(),
});

const Quantiles = z.object({
  p50: z.number(),
  p95: z.number(),
  p99: z.number(),
  /** How many samples (of: samples) or reports (of: reports) the quantiles are over. */
  count: z.number(),
  /**
   * samples: quantiles of every raw sample (each report's sketch merged: segments, decoded frames, latency
   * readings); reports: of one figure per report (its own p50), when a report of the group carried no sketch.
   */
  of: z.enum(['samples', 'reports']).optional(),
});
/** Totals over the group's reports (stream findings' reports: probe-errors left out). */
const Sums = z.object({
  frozen_ms: z.number(),
  black_ms: z.number(),
  dropped_frames: z.number(),
  total_frames: z.number(),
  segments_total: z.number(),
  clock_skew_negative: z.number(),
});
const Group = z.object({
  key: z.string(),
  count: z.number(),
  outcomes: z.object({ ok: z.number(), degraded: z.number(), failed: z.number(), 'probe-error': z.number() }),
  success_ratio: z.number().nullable(),
  rebuffer_ratio: z.number().nullable(),
  errors: z.object({ http: z.number(), network: z.number(), player: z.number(), conformance: z.number() }),
  metrics: z.partialRecord(z.enum(SKETCHED), Quantiles),
  findings: z.partialRecord(FindingCode, z.number()),
  sums: Sums.optional(),
});

/**
 * Set only by a partitioned deployment (docs/operations/scale-out.md) when some partitions' owners did not
 * answer in time: the figures leave those partitions out (never a guess), and `missingPartitions` names them.
 */
export const PartialFields = {
  partial: z.boolean().optional(),
  missingPartitions: z.array(z.string()).optional(),
};
export const partialOf = (missing: string[]) =>
  missing.length ? { partial: true, missingPartitions: missing } : {};

export const summaryRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/v1/summary',
    {
      schema: {
        querystring: SummaryQuerySchema,
        response: {
          200: z.object({
            window: z.string(),
            groupBy: z.string(),
            at: z.string(),
            groups: z.array(Group),
            ...PartialFields,
          }),
        },
      },
    },
    async (req) => {
      const head = { window: req.query.window, groupBy: req.query.groupBy, at: new Date().toISOString() };
      if (!s.cluster) return { ...head, groups: await s.aggregator.summaryCached(req.query) };
      const merged = await s.cluster.summary(req.query);
      return { ...head, groups: merged.value, ...partialOf(merged.missing) };
    },
  );
};

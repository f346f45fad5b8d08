import { Ajv } from 'ajv';
import { z } from 'zod';
import { SubjectToken } from '../../../shared/ids.js';
import { FindingCode } from '../../../shared/metrics.js';
import { ProbeKind } from '../../../shared/schemas.js';
import { GROUP_BY, SKETCHED, type SummaryGroup, WINDOWS } from '../../aggregate/aggregator.js';
import { redactDeep, seesSecrets } from '../redact.js';
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

const Groups = z.array(Group);
/**
 * The response check compiled from the same schema (ajv; numbers must be finite, as zod's), on the path of
 * the first request after each refresh — which, with a merged answer refreshed every half second, was
 * most requests for groupBy=target (their p50 halved with it: docs/benchmarks.md, bench:scale). An answer it
 * refuses (an unknown key, which zod strips; anything zod refuses) goes through zod as before.
 */
const groupsValid = new Ajv({ strict: false, strictNumbers: true, allErrors: false }).compile(
  z.toJSONSchema(Groups, { io: 'output', target: 'draft-7' }),
);

/**
 * The serialized groups of an answer, per answer object (the aggregator and the cluster hand out the same
 * array while it is fresh): a polled shape is checked against the response schema and stringified once per
 * refresh, not per request. At 100k series a groupBy=target answer is 1000 groups, ~600 kB: checking and
 * stringifying it took 15-30 ms a request, the bulk of a cached answer's time.
 */
const bodies = new WeakMap<SummaryGroup[], { plain?: string; redacted?: string }>();

export function groupsJson(groups: SummaryGroup[], redacted: boolean): string {
  let e = bodies.get(groups);
  if (!e) {
    e = {};
    bodies.set(groups, e);
  }
  const have = redacted ? e.redacted : e.plain;
  if (have !== undefined) return have;
  const checked = groupsValid(groups) ? groups : Groups.parse(groups);
  // What the preSerialization hook does for a viewer (this body bypasses it: it is already a string).
  const json = JSON.stringify(redacted ? redactDeep(checked) : checked);
  if (redacted) e.redacted = json;
  else e.plain = json;
  return json;
}

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
    async (req, reply) => {
      const head = { window: req.query.window, groupBy: req.query.groupBy, at: new Date().toISOString() };
      let groups: SummaryGroup[];
      let partial = {};
      if (s.cluster) {
        const merged = await s.cluster.summary(req.query);
        groups = merged.value;
        partial = partialOf(merged.missing);
      } else groups = await s.aggregator.summaryCached(req.query);
      const fields = JSON.stringify({ ...head, ...partial });
      const body = `${fields.slice(0, -1)},"groups":${groupsJson(groups, !seesSecrets(req))}}`;
      // A string body with a JSON type is sent as it is (no per-request schema check or stringify); the
      // type provider only knows the object form, which this body is (checked once in groupsJson).
      return reply.type('application/json; charset=utf-8').send(body as never);
    },
  );
};

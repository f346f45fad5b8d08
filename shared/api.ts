import { validateDetailed } from 'node-cron';
import { z } from 'zod';
import { IsoTime, SubjectToken, TimeZone } from './ids.js';
import { ProbeKind, Protocol, Report, TargetRef } from './schemas.js';

/** Request and response shapes of the controller's HTTP API, shared with clients (CLI, tests, dashboards). */

export const AdHocTarget = z.object({
  id: SubjectToken.optional(),
  url: TargetRef.shape.url,
  protocol: Protocol,
});

/** `cdn=akamai,event=final`: every target whose labels match all the pairs (Kubernetes-style equality). */
export const LabelSelector = z
  .string()
  .max(1000)
  .regex(
    /^\s*[A-Za-z0-9_./-]+\s*(!=|==|=)\s*[^,=!]*(,\s*[A-Za-z0-9_./-]+\s*(!=|==|=)\s*[^,=!]*)*$/,
    'a label selector: name=value[,name!=value...]',
  );

export const SweepRequest = z
  .object({
    targets: z
      .array(z.union([SubjectToken, AdHocTarget]))
      .max(1000)
      .default([]),
    /** Targets chosen by their labels (added to `targets`). */
    selector: LabelSelector.optional(),
    /** Region names, or ["*"]: every region with an online agent when the sweep starts. */
    regions: z
      .array(z.union([SubjectToken, z.literal('*')]))
      .min(1)
      .max(100),
    probe: ProbeKind.default('browser'),
    durationS: z.number().positive().max(3600).default(30),
    /** A name people recognise ("pre-show check 19:00"). */
    name: z.string().max(200).optional(),
    /** The event this sweep is for (a label to find and compare sweeps by). */
    event: z.string().max(100).optional(),
    /** A region that sends no report is no-go unless this is set (then it is only a warning). */
    allowMissingRegions: z.boolean().default(false),
  })
  .refine((r) => r.targets.length > 0 || r.selector !== undefined, {
    message: 'give targets (ids or ad hoc) or a label selector',
    path: ['targets'],
  });
export type SweepRequest = z.infer<typeof SweepRequest>;

export const SweepState = z.enum(['queued', 'running', 'done', 'cancelled']);

export const RegionProgress = z.object({
  expected: z.number().int(),
  received: z.number().int(),
  ok: z.number().int(),
  degraded: z.number().int(),
  failed: z.number().int(),
  probeError: z.number().int(),
  /** Jobs with no report by the sweep's deadline (no agent in the region, or it never finished). */
  missing: z.number().int(),
});
export type RegionProgress = z.infer<typeof RegionProgress>;

export const VerdictLevel = z.enum(['go', 'warn', 'no-go']);
export type VerdictLevel = z.infer<typeof VerdictLevel>;

/** One figure of a cell against its expectation and its baseline (controller/readiness/verdict.ts). */
export const CellFigure = z.object({
  metric: z.string(),
  value: z.number().nullable(),
  expected: z.number().optional(),
  baseline: z.number().optional(),
  unit: z.string(),
});
export type CellFigure = z.infer<typeof CellFigure>;

/** The verdict of one target x region, with its reasons in plain words. */
export const VerdictCell = z.object({
  target: z.string(),
  region: z.string(),
  labels: z.record(z.string(), z.string()).default({}),
  verdict: VerdictLevel,
  /** The cell could not be judged (probe errors, no report): a warn or no-go that is not the stream's fault. */
  inconclusive: z.boolean().default(false),
  reasons: z.array(z.string()),
  reports: z.number().int(),
  probeErrors: z.number().int(),
  figures: z.array(CellFigure),
  /** The sweep the figures were compared with. */
  baselineSweepId: z.string().optional(),
});
export type VerdictCell = z.infer<typeof VerdictCell>;

export const SweepVerdict = z.object({
  verdict: VerdictLevel,
  reasons: z.array(z.string()),
  cells: z.array(VerdictCell),
});
export type SweepVerdict = z.infer<typeof SweepVerdict>;

export const Sweep = z.object({
  id: z.string(),
  name: z.string().optional(),
  event: z.string().optional(),
  /** Who started it: the API token's name ("anonymous" without auth, "schedule:<id>" for a schedule). */
  author: z.string().default('anonymous'),
  state: SweepState,
  createdAt: IsoTime,
  deadline: IsoTime,
  finishedAt: IsoTime.optional(),
  probe: ProbeKind,
  durationS: z.number(),
  selector: z.string().optional(),
  allowMissingRegions: z.boolean().default(false),
  targets: z.array(TargetRef),
  regions: z.array(z.string()),
  expected: z.number().int(),
  received: z.number().int(),
  perRegion: z.record(z.string(), RegionProgress),
  /** Reports as received, trimmed for storage (segment timings dropped, errors and findings capped). */
  reports: z.array(Report),
  /** Overall readiness (set when the sweep is done or cancelled; provisional in GET while it runs). */
  verdict: VerdictLevel.optional(),
  /** Why, in plain words: each non-go cell's reasons, prefixed by `target @ region`. */
  reasons: z.array(z.string()).optional(),
  /** The verdict per target x region, with its figures against expectation and baseline. */
  cells: z.array(VerdictCell).optional(),
  /** Marked with POST /v1/sweeps/:id/baseline: later sweeps of its targets compare with it. */
  baseline: z.boolean().default(false),
  cancelledBy: z.string().optional(),
});
export type Sweep = z.infer<typeof Sweep>;

export const ResultsQuery = z.object({
  target: SubjectToken.optional(),
  region: SubjectToken.optional(),
  since: IsoTime.optional(),
  /** Continue a previous page: the `next` value it returned (a results-stream sequence). */
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type ResultsQuery = z.infer<typeof ResultsQuery>;

/**
 * Every error answer: an RFC 9457 problem document (application/problem+json). `error` (a short code) and
 * `message` (= detail) are extension members kept for clients written before; `issues` lists each invalid
 * field of a validation error.
 */
export const ApiError = z
  .object({
    // type, title and status are always on the wire (the API's preSerialization hook fills them in); they
    // are optional here only so route code may still send { error, message }.
    type: z
      .string()
      .optional()
      .meta({ description: 'Problem type URI; "about:blank": the HTTP status says it all' }),
    title: z.string().optional().meta({ description: "The HTTP status' reason phrase" }),
    status: z.number().int().optional().meta({ description: 'The HTTP status code' }),
    detail: z.string().optional().meta({ description: 'What went wrong with this request' }),
    instance: z.string().optional().meta({ description: 'The request path' }),
    error: z
      .string()
      .meta({ description: 'Short code: validation, not-found, unauthorized, rate-limited, ...' }),
    message: z.string().meta({ description: 'Same as detail' }),
    issues: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'Validation errors: one entry per invalid field (path like body.durationS)' }),
  })
  .meta({
    id: 'Problem',
    example: {
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'invalid body',
      instance: '/v1/sweeps',
      error: 'validation',
      message: 'invalid body',
      issues: [{ path: 'body.durationS', message: 'Too small: expected number to be >0' }],
    },
  });

export const Schedule = z.object({
  id: SubjectToken,
  /** 5 fields (minute precision) or 6 (seconds first), node-cron syntax. */
  cron: z.string().superRefine((expr, ctx) => {
    const v = validateDetailed(expr);
    if (!v.valid)
      ctx.addIssue({
        code: 'custom',
        message: `invalid cron: ${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      });
  }),
  tz: TimeZone,
  sweep: SweepRequest,
  enabled: z.boolean().default(true),
  description: z.string().max(500).optional(),
});
export type Schedule = z.infer<typeof Schedule>;

/** A continuous probe: a chain of watch jobs per region, each reporting every intervalS seconds. */
export const Watch = z.object({
  id: SubjectToken,
  target: z.union([SubjectToken, AdHocTarget]),
  regions: z.array(SubjectToken).min(1).max(100),
  probe: ProbeKind.default('stream'),
  intervalS: z.number().min(1).max(600).default(10),
  /** Length of each job in the chain; a new one is queued before the previous ends. */
  chunkS: z.number().min(30).max(3600).default(600),
  enabled: z.boolean().default(true),
  description: z.string().max(500).optional(),
});
export type Watch = z.infer<typeof Watch>;

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

export const SweepRequest = z.object({
  targets: z
    .array(z.union([SubjectToken, AdHocTarget]))
    .min(1)
    .max(1000),
  regions: z.array(SubjectToken).min(1).max(100),
  probe: ProbeKind.default('browser'),
  durationS: z.number().positive().max(3600).default(30),
});
export type SweepRequest = z.infer<typeof SweepRequest>;

export const SweepState = z.enum(['queued', 'running', 'done']);

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

export const Sweep = z.object({
  id: z.string(),
  state: SweepState,
  createdAt: IsoTime,
  deadline: IsoTime,
  finishedAt: IsoTime.optional(),
  probe: ProbeKind,
  durationS: z.number(),
  targets: z.array(TargetRef),
  regions: z.array(z.string()),
  expected: z.number().int(),
  received: z.number().int(),
  perRegion: z.record(z.string(), RegionProgress),
  reports: z.array(Report),
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
    type: z.string().meta({ description: 'Problem type URI; "about:blank": the HTTP status says it all' }),
    title: z.string().meta({ description: "The HTTP status' reason phrase" }),
    status: z.number().int().meta({ description: 'The HTTP status code' }),
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

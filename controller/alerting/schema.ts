/**
 * The alerting contract: rules, silences and alerts. One set of zod schemas serves the rules file
 * (deploy/rules.yaml), the HTTP API (/v1/rules, /v1/silences, /v1/alerts) and the KV buckets, so a rule
 * accepted by one is accepted by all. It lives here rather than in shared/ because what a rule may
 * aggregate is decided by the windows (SKETCHED), which are controller code.
 */

import { z } from 'zod';
import { IsoTime, SubjectToken, TimeZone } from '../../shared/ids.js';
import { FindingCode, METRIC_NAMES } from '../../shared/metrics.js';
import { regexError } from '../../shared/regex.js';
import { ProbeKind } from '../../shared/schemas.js';
import { SKETCHED, WINDOWS } from '../aggregate/aggregator.js';

// ---------------------------------------------------------------------------------------------- durations

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/** "1m30s", "500ms", "0" or a number of seconds -> ms. Throws on anything else. */
export function durationMs(v: string | number): number {
  if (typeof v === 'number') return v * 1000;
  if (v === '0') return 0;
  if (!DURATION_RE.test(v)) throw new Error(`bad duration ${v}`);
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g))
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
  return total;
}

/** Seconds as a number, or a Prometheus-style duration string ("30s", "1m30s", "500ms"). */
export const Duration = z.union([
  z
    .number()
    .min(0)
    .max(30 * 86_400),
  z.string().refine((s) => s === '0' || DURATION_RE.test(s), 'use e.g. "30s", "1m30s", "500ms" or seconds'),
]);
export type Duration = z.infer<typeof Duration>;

// ------------------------------------------------------------------------------------------------- labels

export const LabelName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'label names: [A-Za-z_][A-Za-z0-9_]*');
export const Labels = z.record(LabelName, z.string().max(1000));
export type Labels = z.infer<typeof Labels>;

// -------------------------------------------------------------------------------------------------- rules

/** Counters of a window that rules can count, rate (per second) or divide by the reports (ratio). */
export const COUNTERS = [
  'reports',
  'outcome_failed',
  'outcome_degraded',
  'outcome_probe_error',
  'errors_http',
  'errors_network',
  'errors_player',
  'errors_conformance',
] as const;
export type Counter = (typeof COUNTERS)[number];
/** Ratios the windows compute themselves. */
export const RATIOS = ['success_ratio', 'rebuffer_ratio'] as const;
export type RatioMetric = (typeof RATIOS)[number];
/** Everything a rule's `metric` may name. */
export const EVALUABLE = [...SKETCHED, ...RATIOS, ...COUNTERS] as const;
export type Evaluable = (typeof EVALUABLE)[number];

export const PERCENTILES = ['p50', 'p95', 'p99'] as const;
export type Percentile = (typeof PERCENTILES)[number];
export const Aggregation = z.enum(['p50', 'p95', 'p99', 'ratio', 'count', 'rate']);
export type Aggregation = z.infer<typeof Aggregation>;
export const Comparator = z.enum(['>', '>=', '<', '<=']);
export type Comparator = z.infer<typeof Comparator>;
export const Severity = z.enum(['critical', 'warning', 'info']);
export type Severity = z.infer<typeof Severity>;
export const WindowName = z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS, ...(keyof typeof WINDOWS)[]]);
/** A target's expectation a threshold may come from (Target.expectations). */
export const ExpectationKey = z.enum(['startup_ms', 'g2g_ms', 'rebuffer_ratio']);
export type ExpectationKey = z.infer<typeof ExpectationKey>;
export const FleetCondition = z.enum(['agent-offline', 'region-offline']);
export type FleetCondition = z.infer<typeof FleetCondition>;

export const Quorum = z
  .strictObject({
    /** At least this many regions breach. */
    regions: z.number().int().min(1).max(100).optional(),
    /** At least this share of the regions with data (for the target, in the window) breach. */
    percent: z.number().gt(0).max(100).optional(),
  })
  .refine(
    (q) => (q.regions === undefined) !== (q.percent === undefined),
    'set exactly one of regions, percent',
  );
export type Quorum = z.infer<typeof Quorum>;

export const Annotations = z
  .object({
    summary: z.string().max(1000).optional(),
    description: z.string().max(4000).optional(),
    /**
     * An absolute http(s) URL, or a path relative to the controller (runbooks/<rule-id>, served by GET
     * /runbooks/:id) that notifications resolve against controller.externalUrl.
     */
    runbook_url: z
      .union([
        z.url({ protocol: /^https?$/ }),
        z
          .string()
          .max(500)
          .regex(
            /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*(#[A-Za-z0-9._~-]*)?$/,
            'an http(s) URL or a relative path',
          ),
      ])
      .optional(),
  })
  .catchall(z.string().max(4000));

const METRIC_LIST = EVALUABLE.join(', ');

/**
 * One alerting rule. Exactly one of `metric` (a window figure), `finding` (a conformance finding code, or
 * "any") or `fleet` (agent / region offline). Series rules are evaluated per target per region, then the
 * quorum decides; fleet rules per agent or per region.
 */
export const Rule = z
  .strictObject({
    id: SubjectToken,
    enabled: z.boolean().default(true),
    description: z.string().max(1000).optional(),
    metric: z.string().optional(),
    finding: z.union([FindingCode, z.literal('any')]).optional(),
    fleet: FleetCondition.optional(),
    agg: Aggregation.optional(),
    window: WindowName.default('1m'),
    /** Only reports of this probe kind (default: both; counts add up, percentiles take the worse kind). */
    probe: ProbeKind.optional(),
    /** Only these targets (default: every target with data in the window). */
    targets: z.array(SubjectToken).max(1000).optional(),
    op: Comparator.default('>'),
    threshold: z.number().finite().default(0),
    /** Use the target's expectation as the threshold when it has one (else `threshold`). */
    threshold_from: ExpectationKey.optional(),
    /** A region with fewer reports than this in the window has no say (neither breaching nor ok). */
    min_reports: z.number().int().min(1).max(10_000).default(1),
    quorum: Quorum.default({ regions: 1 }),
    for: Duration.default(0),
    keep_firing_for: Duration.default(0),
    severity: Severity.default('warning'),
    labels: Labels.default({}),
    annotations: Annotations.default({}),
    /** Set by the controller: file rules are re-applied at start; an API edit takes a rule over. */
    source: z.enum(['file', 'api']).optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = [r.metric, r.finding, r.fleet].filter((v) => v !== undefined).length;
    if (kinds !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['metric'],
        message: 'set exactly one of metric, finding, fleet',
      });
      return;
    }
    if (r.fleet) return;
    if (!r.agg) {
      ctx.addIssue({ code: 'custom', path: ['agg'], message: 'required: p50|p95|p99|ratio|count|rate' });
      return;
    }
    if (r.finding) {
      if (!['count', 'rate', 'ratio'].includes(r.agg))
        ctx.addIssue({
          code: 'custom',
          path: ['agg'],
          message: 'a finding is counted: use count, rate or ratio',
        });
      return;
    }
    const m = r.metric as string;
    if (!(EVALUABLE as readonly string[]).includes(m)) {
      const known = (METRIC_NAMES as readonly string[]).includes(m);
      ctx.addIssue({
        code: 'custom',
        path: ['metric'],
        message: known
          ? `${m} is reported but not aggregated over windows; rules can use ${METRIC_LIST}`
          : `unknown metric ${m}; rules can use ${METRIC_LIST}`,
      });
      return;
    }
    const isSketched = (SKETCHED as readonly string[]).includes(m);
    const isRatio = (RATIOS as readonly string[]).includes(m);
    const pct = (PERCENTILES as readonly string[]).includes(r.agg);
    if (isSketched && !pct)
      ctx.addIssue({ code: 'custom', path: ['agg'], message: `${m} is a distribution: use p50, p95 or p99` });
    if (isRatio && r.agg !== 'ratio')
      ctx.addIssue({ code: 'custom', path: ['agg'], message: `${m} is a ratio: use agg ratio` });
    if (!isSketched && !isRatio && pct)
      ctx.addIssue({ code: 'custom', path: ['agg'], message: `${m} is a counter: use count, rate or ratio` });
  });
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;

// ----------------------------------------------------------------------------------------------- silences

export const Matcher = z
  .strictObject({
    name: LabelName,
    value: z.string().max(1000),
    is_regex: z.boolean().default(false),
    is_equal: z.boolean().default(true),
  })
  .superRefine((m, ctx) => {
    // Silences, routes and inhibitions all match with RE2 (linear time); anything else is refused here.
    const why = m.is_regex ? regexError(m.value) : undefined;
    if (why)
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `invalid regular expression (RE2 syntax): ${why}`,
      });
  });
export type Matcher = z.infer<typeof Matcher>;

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export const Weekday = z.enum(WEEKDAYS);

/** A weekly maintenance window: on these days, from `start` (local time in tz) for `duration`. */
export const Recurrence = z.strictObject({
  days: z.array(Weekday).min(1).max(7),
  start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h)'),
  duration: Duration,
  tz: TimeZone,
});
export type Recurrence = z.infer<typeof Recurrence>;

/** POST /v1/silences. Without ends_at, `duration` (default 1h) from starts_at (default now). */
export const SilenceRequest = z
  .strictObject({
    matchers: z.array(Matcher).min(1).max(20),
    starts_at: IsoTime.optional(),
    ends_at: IsoTime.optional(),
    duration: Duration.optional(),
    comment: z.string().min(1).max(2000),
    /** Free text when the API runs without tokens; with tokens the token's name is the author. */
    created_by: z.string().min(1).max(200).optional(),
    recurrence: Recurrence.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.ends_at && s.duration !== undefined)
      ctx.addIssue({ code: 'custom', path: ['duration'], message: 'give ends_at or duration, not both' });
    if (s.starts_at && s.ends_at && Date.parse(s.ends_at) <= Date.parse(s.starts_at))
      ctx.addIssue({ code: 'custom', path: ['ends_at'], message: 'must be after starts_at' });
    if (s.ends_at && Date.parse(s.ends_at) <= Date.now())
      ctx.addIssue({ code: 'custom', path: ['ends_at'], message: 'must be in the future' });
  });
export type SilenceRequest = z.infer<typeof SilenceRequest>;

export const Silence = z.object({
  id: SubjectToken,
  matchers: z.array(Matcher).min(1),
  starts_at: IsoTime,
  ends_at: IsoTime,
  created_by: z.string(),
  comment: z.string(),
  created_at: IsoTime,
  recurrence: Recurrence.optional(),
});
export type Silence = z.infer<typeof Silence>;

export const SilenceView = Silence.extend({
  /** active: muting now; pending: not started (or between recurring windows); expired: past ends_at. */
  status: z.enum(['active', 'pending', 'expired']),
});
export type SilenceView = z.infer<typeof SilenceView>;

// ------------------------------------------------------------------------------------------------- alerts

export const AlertState = z.enum(['pending', 'firing', 'resolved']);
export type AlertState = z.infer<typeof AlertState>;

export const RegionEvidence = z.object({
  region: z.string(),
  value: z.number().nullable(),
  breaching: z.boolean(),
  /** Why this region's figure does not count (agent offline, probe-errors): alerting/inhibit.ts. */
  inhibited: z.string().optional(),
  reports: z.number().int(),
  /** Ids of recent reports from this region that show the problem (GET /v1/results finds them). */
  sample_reports: z.array(z.string()),
});
export type RegionEvidence = z.infer<typeof RegionEvidence>;

export const Evidence = z.object({
  window: z.string().optional(),
  quorum: z.object({ need: z.number(), breaching: z.number(), regions: z.number() }).optional(),
  regions: z.array(RegionEvidence).default([]),
  agents: z.array(z.object({ agent: z.string(), region: z.string(), last_seen: IsoTime })).optional(),
});
export type Evidence = z.infer<typeof Evidence>;

/** One alert (one fingerprint) as kept in KV by the notifying replica and served by GET /v1/alerts. */
export const Alert = z.object({
  /** The fingerprint: a hash of the labels; also PagerDuty's dedup_key suffix. */
  id: z.string(),
  rule: z.string(),
  state: AlertState,
  labels: Labels,
  annotations: z.record(z.string(), z.string()),
  /** Start of the current episode (first breach). */
  active_at: IsoTime,
  fired_at: IsoTime.optional(),
  resolved_at: IsoTime.optional(),
  /** Last evaluation that breached (keep_firing_for counts from here). */
  last_breach_at: IsoTime.optional(),
  updated_at: IsoTime,
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  /** Firing only because the regions that breach are inhibited now (held, neither re-paged nor resolved). */
  held: z.boolean().default(false),
  evidence: Evidence,
});
export type Alert = z.infer<typeof Alert>;

export const NotificationRecord = z.object({
  receiver: z.string(),
  kind: z.string(),
  /** firing, resolved, or firing.r<N> for the Nth repeat. */
  what: z.string(),
  claimed_at: IsoTime,
  sent_at: IsoTime.optional(),
  attempts: z.number().int(),
  error: z.string().optional(),
  holder: z.string(),
});
export type NotificationRecord = z.infer<typeof NotificationRecord>;

export const AlertView = Alert.extend({
  silenced_by: z.array(z.string()),
  notifications: z.array(NotificationRecord),
});
export type AlertView = z.infer<typeof AlertView>;

/**
 * The rules file (deploy/rules.yaml; config key controller.rulesFile): evaluation settings, inhibition,
 * the notification route, receivers and rules. Strings may use ${ENV_VAR}, so secrets (webhook keys,
 * routing keys, Slack URLs) stay out of the file; a receiver whose variables are unset is disabled (and
 * says so at start), anything else unset is an error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SubjectToken } from '../../shared/ids.js';
import { Duration, LabelName, Matcher, Rule } from './schema.js';

/** `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"` (Alertmanager's matcher syntax), or an object. */
export function parseMatcher(text: string): Matcher {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(text);
  if (!m) throw new Error(`bad matcher ${text}: use name="value", name!="value", name=~"re" or name!~"re"`);
  const op = m[2] as string;
  return {
    name: m[1] as string,
    value: (m[3] as string).replace(/\\(.)/g, '$1'),
    is_regex: op.endsWith('~'),
    is_equal: !op.startsWith('!'),
  };
}

const MatcherInput = z.union([
  Matcher,
  z.string().transform((s, ctx) => {
    try {
      return parseMatcher(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
]);

const ReceiverName = SubjectToken;
const HttpUrl = z.url({ protocol: /^https?$/ });

const RetrySettings = z
  .strictObject({
    /** Give up on one notification after this long (the failure is logged and recorded). */
    max_elapsed: Duration.default('2m'),
    initial_backoff: Duration.default('500ms'),
    max_backoff: Duration.default('30s'),
    /** Per HTTP attempt. */
    timeout: Duration.default('10s'),
  })
  .prefault({});

const common = { name: ReceiverName, retry: RetrySettings };

export const WebhookReceiver = z.strictObject({
  ...common,
  kind: z.literal('webhook'),
  url: HttpUrl,
  /** HMAC-SHA256 key: X-Liveprobe-Signature: t=<unix ms>,v1=<hex hmac of "<t>.<body>">. */
  secret: z.string().min(16, 'use at least 16 characters').optional(),
  headers: z.record(z.string(), z.string()).default({}),
});
export const SlackReceiver = z.strictObject({
  ...common,
  kind: z.literal('slack'),
  /** The incoming-webhook URL (it is the credential: redacted from logs). */
  webhook_url: HttpUrl,
  channel: z.string().optional(),
  username: z.string().optional(),
});
export const PagerDutyReceiver = z.strictObject({
  ...common,
  kind: z.literal('pagerduty'),
  routing_key: z.string().min(1),
  url: HttpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  /** Link back to the controller in the incident. */
  client_url: HttpUrl.optional(),
});
export const AlertmanagerReceiver = z.strictObject({
  ...common,
  kind: z.literal('alertmanager'),
  /** Base URL of an existing Alertmanager; alerts are POSTed to <url>/api/v2/alerts. */
  url: HttpUrl,
  headers: z.record(z.string(), z.string()).default({}),
  /** Firing alerts are re-posted this often (Alertmanager resolves an alert it stops hearing about). */
  resend_interval: Duration.default('1m'),
});

export const Receiver = z.discriminatedUnion('kind', [
  WebhookReceiver,
  SlackReceiver,
  PagerDutyReceiver,
  AlertmanagerReceiver,
]);
export type Receiver = z.infer<typeof Receiver>;
export type ReceiverKind = Receiver['kind'];

export const SubRoute = z.strictObject({
  matchers: z.array(MatcherInput).min(1),
  receivers: z.array(ReceiverName).min(1),
  /** Keep looking at the next routes after this one matched. */
  continue: z.boolean().default(false),
});

export const Route = z
  .strictObject({
    /** Receivers of alerts no sub-route takes. */
    receivers: z.array(ReceiverName).default([]),
    /** One notification per group: alerts sharing these labels (default: the target). */
    group_by: z.array(LabelName).default(['target']),
    /** A new group waits this long for more alerts before its first notification. */
    group_wait: Duration.default('0s'),
    /** A group already notified waits this long before the next notification about new changes. */
    group_interval: Duration.default('5s'),
    /** A still-firing alert is sent again after this long (0 = never). */
    repeat_interval: Duration.default('4h'),
    routes: z.array(SubRoute).default([]),
  })
  .prefault({});
export type Route = z.infer<typeof Route>;

export const AlertingFile = z
  .strictObject({
    /** How often every rule is evaluated; a report with a problem also triggers its target at once. */
    evaluation_interval: Duration.default('1s'),
    inhibit: z
      .strictObject({
        /** A region where at least this share of a target's reports (or of all its reports) are probe-errors. */
        probe_error_ratio: z.number().gt(0).max(1).default(0.5),
        /** A region with an agent that went offline within the rule's window. */
        agent_offline: z.boolean().default(true),
      })
      .prefault({}),
    route: Route,
    receivers: z.array(Receiver).default([]),
    rules: z.array(Rule).default([]),
    /** Resolved alerts stay listed (and their resolve notices retried) this long, then move to history. */
    resolved_retention: Duration.default('5m'),
  })
  .superRefine((f, ctx) => {
    const names = new Set<string>();
    f.receivers.forEach((r, i) => {
      if (names.has(r.name))
        ctx.addIssue({ code: 'custom', path: ['receivers', i, 'name'], message: `duplicate ${r.name}` });
      names.add(r.name);
    });
    const ids = new Set<string>();
    f.rules.forEach((r, i) => {
      if (ids.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate ${r.id}` });
      ids.add(r.id);
    });
  });
export type AlertingFile = z.infer<typeof AlertingFile>;

export class RulesFileError extends Error {
  override readonly name = 'RulesFileError';
}

export interface LoadedRulesFile {
  file: AlertingFile;
  /** Receivers left out because variables they use are unset. */
  disabled: { name: string; missing: string[] }[];
}

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces ${VAR} in every string of the tree; records the names that were unset. */
function substitute(node: unknown, env: NodeJS.ProcessEnv, missing: Set<string>): unknown {
  if (typeof node === 'string')
    return node.replace(VAR_RE, (_, v: string) => {
      const val = env[v];
      if (val === undefined || val === '') missing.add(v);
      return val ?? '';
    });
  if (Array.isArray(node)) return node.map((n) => substitute(n, env, missing));
  if (node && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, env, missing)]));
  return node;
}

/** Parses and validates a rules file's text (YAML or JSON). */
export function parseRulesFile(
  text: string,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedRulesFile {
  let tree: unknown;
  try {
    tree = parseYaml(text) ?? {};
  } catch (err) {
    throw new RulesFileError(`rules file ${where}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree))
    throw new RulesFileError(`rules file ${where}: expected a mapping at the top level`);
  const raw = tree as Record<string, unknown>;
  const disabled: LoadedRulesFile['disabled'] = [];
  const receivers = Array.isArray(raw.receivers) ? raw.receivers : [];
  const kept: unknown[] = [];
  for (const r of receivers) {
    const missing = new Set<string>();
    const value = substitute(r, env, missing);
    if (missing.size) {
      const name = (r as { name?: unknown })?.name;
      disabled.push({ name: typeof name === 'string' ? name : '?', missing: [...missing] });
    } else kept.push(value);
  }
  const missingElsewhere = new Set<string>();
  const rest = substitute({ ...raw, receivers: undefined }, env, missingElsewhere) as Record<string, unknown>;
  if (missingElsewhere.size)
    throw new RulesFileError(`rules file ${where}: unset variable(s) ${[...missingElsewhere].join(', ')}`);
  const parsed = AlertingFile.safeParse({ ...rest, receivers: kept });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new RulesFileError(`rules file ${where}: ${issues.join('; ')}`);
  }
  // Routes may name a disabled receiver (its variables are unset here); any other unknown name is a typo.
  const known = new Set([...parsed.data.receivers.map((r) => r.name), ...disabled.map((d) => d.name)]);
  const route = parsed.data.route;
  const named = [
    ...route.receivers.map((n) => ['route.receivers', n] as const),
    ...route.routes.flatMap((r, i) => r.receivers.map((n) => [`route.routes.${i}.receivers`, n] as const)),
  ];
  const unknown = named.filter(([, n]) => !known.has(n));
  if (unknown.length)
    throw new RulesFileError(
      `rules file ${where}: ${unknown.map(([p, n]) => `${p}: unknown receiver ${n}`).join('; ')}`,
    );
  return { file: parsed.data, disabled };
}

export function loadRulesFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedRulesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RulesFileError(`rules file ${path}: ${(err as Error).message}`);
  }
  return parseRulesFile(text, path, env);
}

/** The shipped deploy/rules.yaml, found by walking up from this module (source or dist). */
export function shippedRulesFile(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'deploy', 'rules.yaml');
    if (existsSync(candidate) && existsSync(join(dir, 'package.json'))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** Settings with defaults when no rules file is used. */
export const EMPTY_RULES_FILE: AlertingFile = AlertingFile.parse({});

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isAllowRule, splitList } from './egress.js';
import { SubjectToken } from './ids.js';

/**
 * Configuration: defaults <- file (YAML or JSON, path in LIVEPROBE_CONFIG or --config) <- env vars <- CLI
 * flags. Objects are strict so a misspelt key is an error that names it, not a silently ignored setting.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

export const Role = z.enum(['viewer', 'operator', 'admin']);
export type Role = z.infer<typeof Role>;

export const ApiToken = z.strictObject({
  /** Who holds it; logged instead of the token. */
  name: z.string().min(1).max(64),
  role: Role,
  token: z.string().min(16, 'use at least 16 characters'),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** LIVEPROBE_TOKENS="name:role:token,name2:role2:token2" -> ApiToken[] (validated by the schema after). */
export function parseTokenList(value: string): unknown[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name, role, ...rest] = entry.split(':');
      return { name, role, token: rest.join(':') };
    });
}

/** Labels the controller's own metrics use; a target label exported by config may not reuse one. */
const METRIC_RESERVED_LABELS = new Set([
  'target',
  'region',
  'probe',
  'outcome',
  'category',
  'code',
  'le',
  'quantile',
  'job',
  'instance',
]);

/** "a, b,c" -> ['a','b','c'] for list keys set from an env var; arrays pass through. */
const commaList = (v: unknown): unknown =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : v;

export const ConfigSchema = z.strictObject({
  nats: z
    .strictObject({
      url: z.string().min(1).default('nats://127.0.0.1:4222'),
      user: z.string().optional(),
      pass: z.string().optional(),
      token: z.string().optional(),
      credsFile: z.string().optional(),
      /** nkey seed file (a server `authorization { users: [{ nkey: U... }] }` entry). */
      nkeyFile: z.string().optional(),
      /** TLS: CA to verify the server; client certificate and key for servers that verify clients. */
      tlsCaFile: z.string().optional(),
      tlsCertFile: z.string().optional(),
      tlsKeyFile: z.string().optional(),
      prefix: SubjectToken.default('liveprobe'),
      resultsMaxAgeH: z.coerce.number().positive().default(72),
      /** Size bound of the results stream, MiB (oldest reports dropped past it). */
      resultsMaxMb: z.coerce.number().positive().default(2048),
      /** Size bound of the jobs stream, MiB (new jobs refused past it). */
      jobsMaxMb: z.coerce.number().positive().default(256),
      /** Replicas of the streams and KV buckets the controller creates (3 on a 3-node cluster). */
      replicas: z.coerce.number().int().min(1).max(5).default(1),
      /** Ack wait of the job consumers: a job of a dead agent is redelivered after this. */
      jobAckWaitS: z.coerce.number().positive().default(30),
      /** A region's job consumer idle (no pull, no ack) this long is removed by JetStream; re-created on demand. */
      jobConsumerIdleS: z.coerce.number().positive().default(3600),
      /**
       * JetStream domain that holds the job queue. Agents connected to a regional leaf node (which runs its
       * own JetStream domain) set it to the hub's domain, so their job pulls cross the leaf link.
       */
      domain: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'a JetStream domain name')
        .optional(),
      /**
       * Controller: regions served by a leaf node whose JetStream domain is named like the region. Their
       * reports are stored on the leaf first and sourced into the hub's results stream, so a cut link loses
       * nothing (deploy/nats, docs/operations/nats.md).
       */
      leafRegions: z.preprocess(commaList, z.array(SubjectToken)).default([]),
    })
    .prefault({}),
  agent: z
    .strictObject({
      id: SubjectToken.optional(),
      region: SubjectToken.default('local'),
      labels: z.record(z.string(), z.string()).default({}),
      capacity: z
        .strictObject({ browser: positiveInt.default(2), stream: positiveInt.default(100) })
        .prefault({}),
      heartbeatS: z.coerce.number().positive().default(5),
      /** Reports are spooled here (one subdirectory per agent id) while NATS is unreachable. */
      spoolDir: z.string().min(1).default('.liveprobe/spool'),
      /** Bound of the spool; 0 disables it (reports that cannot be stored are then handed back). */
      spoolMaxMb: z.coerce.number().nonnegative().default(64),
      /** On SIGTERM or a stop request: how long running jobs may finish before they are handed back. */
      drainGraceS: z.coerce.number().nonnegative().default(30),
      /** Optional HTTP port with /healthz and /metrics for orchestrators (unset = no listener). */
      httpPort: port.optional(),
      httpHost: z.string().default('127.0.0.1'),
      /** Protected targets' secrets by name (one file per secretRef), besides env LIVEPROBE_SECRET_<NAME>. */
      secretsDir: z.string().min(1).optional(),
      /**
       * Stream probe, bandwidth-exceeded: measured segment bitrate tolerated above the declared BANDWIDTH /
       * AVERAGE-BANDWIDTH / DASH @bandwidth, as a fraction (0.1 = 10 %).
       */
      bandwidthTolerance: z.coerce.number().min(0).max(10).default(0.1),
      /**
       * Clock honesty: a report whose clock estimate is less certain than this (± ms, half the time-service
       * round trip) is flagged clock-suspect and its latency figures are kept out of latency alerts.
       */
      clockUncertaintyMaxMs: z.coerce.number().positive().default(100),
    })
    .prefault({}),
  controller: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
      /** Bearer tokens; none = auth off, and then the API refuses to bind beyond loopback. */
      tokens: z.array(ApiToken).default([]),
      /** Write requests (POST/PUT/DELETE) per minute per token (or client address). */
      writeRateLimitPerMin: positiveInt.default(120),
      /** Read requests (GET) per minute per token (or client address). */
      readRateLimitPerMin: positiveInt.default(6000),
      /** Server-sent event streams (/v1/events) open at once per token, and overall; more get 429. */
      sseMaxPerToken: positiveInt.default(16),
      sseMax: positiveInt.default(256),
      /** Silences stored at once, and the longest one (hours); beyond either a new silence gets 400. */
      silencesMax: positiveInt.default(200),
      silenceMaxHours: positiveInt.default(24 * 90),
      /** Largest accepted request body. */
      bodyLimitKb: positiveInt.default(256),
      /** History replayed from the results stream at start-up to rebuild the windows (0 = none). */
      rebuildWindowS: z.coerce.number().int().min(0).max(3600).default(3600),
      /** Alerting rules file (YAML); unset = the shipped deploy/rules.yaml; "none" = API rules only. */
      rulesFile: z.string().min(1).optional(),
      /**
       * Where people reach this controller (behind a proxy, e.g. https://probes.example.com): the base of
       * links in notifications (command-center page, runbooks). Unset = the address the API listens on.
       */
      externalUrl: z
        .url({ protocol: /^https?$/, error: 'an absolute http(s) URL' })
        .transform((u) => u.replace(/\/+$/, ''))
        .optional(),
      /**
       * Target labels (Target.labels keys, e.g. cdn) exported as extra labels on the per-series Prometheus
       * metrics; a target without the label exports "". Each one multiplies nothing (one value per target),
       * but keep the list short: every series carries them.
       */
      metricsTargetLabels: z
        .preprocess(
          (v) =>
            typeof v === 'string'
              ? v
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean)
              : v,
          z
            .array(
              z
                .string()
                .regex(/^[a-z_][a-z0-9_]*$/, 'a Prometheus label name (lower case)')
                .refine((n) => !METRIC_RESERVED_LABELS.has(n) && !n.startsWith('__'), {
                  error: 'clashes with a label liveprobe already sets',
                }),
            )
            .max(8),
        )
        .default([]),
      /** Bound of target x region x probe series in /metrics; reports of series beyond it are not exported. */
      metricsMaxSeries: positiveInt.default(5000),
      /**
       * Ingest partitions (docs/operations/scale-out.md). 1 = one durable consumer shared by every replica
       * (the single-controller default). N > 1 = reports spread over N partitions by target by the nats-server
       * subject mapping `partition(N, 3)` (deploy/nats/nats-server.conf), each owned by one replica through a
       * KV lease; every replica then answers for the whole fleet. Every replica must use the same N.
       */
      partitions: z.coerce.number().int().min(1).max(256).default(1),
      /** A partition lease not renewed within this (ms) expires: a dead replica's partitions move after it. */
      partitionLeaseMs: z.coerce.number().int().min(1000).max(120_000).default(5000),
      /** How long (ms) a replica waits for the others' parts of a fleet-wide answer before answering `partial`. */
      mergeDeadlineMs: z.coerce.number().int().min(50).max(30_000).default(1500),
    })
    .prefault({}),
  browser: z
    .strictObject({
      chromium: z.string().optional(),
      /**
       * Every Chromium flag (whitespace-separated in env LIVEPROBE_CHROMIUM_ARGS); set, it replaces the
       * built-in list. --no-sandbox is still added when running as root; extraArgs are appended.
       */
      args: z
        .preprocess(
          (v) => (typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v),
          z.array(z.string().regex(/^--/, 'a Chromium flag starting with --')),
        )
        .optional(),
      extraArgs: z.array(z.string()).default([]),
      /**
       * Analyse the played audio in the page (Web Audio: silent_ms, audio_missing_ms, the A/V sync tone).
       * false keeps the player muted and reports no audio figures. Env "false"/"0" turns it off.
       */
      audio: z
        .preprocess(
          (v) => (typeof v === 'string' ? !['false', '0', 'no', 'off'].includes(v.toLowerCase()) : v),
          z.boolean(),
        )
        .default(true),
      /** A 100 ms audio window quieter than this RMS level (dBFS) counts as silent (silent_ms). */
      silenceDbfs: z.coerce.number().min(-150).max(0).default(-60),
    })
    .prefault({}),
  /**
   * CMCD (CTA-5004) on probe requests, so CDN logs can be joined to probe runs. Stream probe: `query` (a CMCD=
   * argument), `header` (CMCD-* headers) or `off`. The browser probe sends it in query mode whenever it is not
   * `off` (headers would make every cross-origin player request a CORS preflight).
   */
  cmcd: z
    .strictObject({
      mode: z.enum(['query', 'header', 'off']).default('query'),
    })
    .prefault({}),
  /** Egress policy (shared/egress.ts): what agents may fetch beyond the public internet. */
  egress: z
    .strictObject({
      /** CIDRs and host globs opened on top of the default (public unicast http/https only). */
      allow: z
        .preprocess(
          splitList,
          z.array(
            z.string().refine(isAllowRule, 'not a CIDR (10.0.0.0/8), address or host glob (*.example.com)'),
          ),
        )
        .default([]),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
});
export type Config = z.infer<typeof ConfigSchema>;

/** Env var -> config key. This table is the documentation of the env vars (README lists the same). */
export const ENV_KEYS: Record<string, string> = {
  NATS_URL: 'nats.url',
  NATS_USER: 'nats.user',
  NATS_PASS: 'nats.pass',
  NATS_TOKEN: 'nats.token',
  NATS_CREDS: 'nats.credsFile',
  NATS_NKEY: 'nats.nkeyFile',
  NATS_TLS_CA: 'nats.tlsCaFile',
  NATS_TLS_CERT: 'nats.tlsCertFile',
  NATS_TLS_KEY: 'nats.tlsKeyFile',
  LIVEPROBE_REPLICAS: 'nats.replicas',
  LIVEPROBE_JOB_ACK_WAIT_S: 'nats.jobAckWaitS',
  LIVEPROBE_JOB_CONSUMER_IDLE_S: 'nats.jobConsumerIdleS',
  LIVEPROBE_JS_DOMAIN: 'nats.domain',
  LIVEPROBE_LEAF_REGIONS: 'nats.leafRegions',
  LIVEPROBE_PREFIX: 'nats.prefix',
  LIVEPROBE_RESULTS_MAX_AGE_H: 'nats.resultsMaxAgeH',
  LIVEPROBE_RESULTS_MAX_MB: 'nats.resultsMaxMb',
  LIVEPROBE_JOBS_MAX_MB: 'nats.jobsMaxMb',
  LIVEPROBE_AGENT_ID: 'agent.id',
  LIVEPROBE_REGION: 'agent.region',
  LIVEPROBE_CAPACITY_BROWSER: 'agent.capacity.browser',
  LIVEPROBE_CAPACITY_STREAM: 'agent.capacity.stream',
  LIVEPROBE_HEARTBEAT_S: 'agent.heartbeatS',
  LIVEPROBE_SPOOL_DIR: 'agent.spoolDir',
  LIVEPROBE_SPOOL_MAX_MB: 'agent.spoolMaxMb',
  LIVEPROBE_DRAIN_GRACE_S: 'agent.drainGraceS',
  LIVEPROBE_AGENT_HTTP_PORT: 'agent.httpPort',
  LIVEPROBE_AGENT_HTTP_HOST: 'agent.httpHost',
  LIVEPROBE_SECRETS_DIR: 'agent.secretsDir',
  LIVEPROBE_BANDWIDTH_TOLERANCE: 'agent.bandwidthTolerance',
  LIVEPROBE_CLOCK_UNCERTAINTY_MAX_MS: 'agent.clockUncertaintyMaxMs',
  LIVEPROBE_HOST: 'controller.host',
  LIVEPROBE_PORT: 'controller.port',
  LIVEPROBE_TOKENS: 'controller.tokens',
  LIVEPROBE_WRITE_RATE_LIMIT: 'controller.writeRateLimitPerMin',
  LIVEPROBE_READ_RATE_LIMIT: 'controller.readRateLimitPerMin',
  LIVEPROBE_SSE_MAX_PER_TOKEN: 'controller.sseMaxPerToken',
  LIVEPROBE_SSE_MAX: 'controller.sseMax',
  LIVEPROBE_SILENCES_MAX: 'controller.silencesMax',
  LIVEPROBE_SILENCE_MAX_HOURS: 'controller.silenceMaxHours',
  LIVEPROBE_REBUILD_WINDOW_S: 'controller.rebuildWindowS',
  LIVEPROBE_RULES_FILE: 'controller.rulesFile',
  LIVEPROBE_EXTERNAL_URL: 'controller.externalUrl',
  LIVEPROBE_METRICS_TARGET_LABELS: 'controller.metricsTargetLabels',
  LIVEPROBE_METRICS_MAX_SERIES: 'controller.metricsMaxSeries',
  LIVEPROBE_PARTITIONS: 'controller.partitions',
  LIVEPROBE_PARTITION_LEASE_MS: 'controller.partitionLeaseMs',
  LIVEPROBE_MERGE_DEADLINE_MS: 'controller.mergeDeadlineMs',
  LIVEPROBE_CHROMIUM: 'browser.chromium',
  LIVEPROBE_CHROMIUM_ARGS: 'browser.args',
  LIVEPROBE_BROWSER_AUDIO: 'browser.audio',
  LIVEPROBE_SILENCE_DBFS: 'browser.silenceDbfs',
  LIVEPROBE_LOG_LEVEL: 'log.level',
  LIVEPROBE_EGRESS_ALLOW: 'egress.allow',
  LIVEPROBE_CMCD_MODE: 'cmcd.mode',
};

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1] as string] = value;
}

export interface LoadConfigOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Already-parsed overrides from CLI flags, as dotted keys ('controller.port'). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.LIVEPROBE_CONFIG;
  let tree: Tree = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`, []);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${file}: not valid YAML/JSON: ${(err as Error).message}`, []);
    }
    if (parsed != null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`config file ${file}: expected a mapping at the top level`, []);
    }
    tree = (parsed as Tree | null) ?? {};
  }
  const origin = new Map<string, string>();
  for (const [envName, key] of Object.entries(ENV_KEYS)) {
    const value = env[envName];
    if (value !== undefined && value !== '') {
      setPath(tree, key, envName === 'LIVEPROBE_TOKENS' ? parseTokenList(value) : value);
      origin.set(key, `env ${envName}`);
    }
  }
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (value !== undefined) {
      setPath(tree, key, value);
      origin.set(key, 'command line');
    }
  }
  const result = ConfigSchema.safeParse(tree);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys
      .map((extra) => {
        const key = [...issue.path, ...(extra ? [extra] : [])].join('.') || '(root)';
        const from = origin.get(key) ?? (file ? `file ${file}` : 'defaults');
        const what = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
        return `${key}: ${what} (from ${from})`;
      })
      .join('; ');
  });
  throw new ConfigError(`invalid configuration: ${issues.join('; ')}`, issues);
}

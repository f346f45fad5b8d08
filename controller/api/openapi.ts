import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { VERSION } from '../../shared/version.js';
import { PROBLEM_TYPE } from './problem.js';

/**
 * The OpenAPI document is made here, centrally, so a route file only declares its schemas: every operation
 * gets a tag (its resource), an operationId (derived from method and path unless the route sets one), the
 * bearer security requirement (none on public routes), error responses as application/problem+json, and
 * the pagination parameters' documentation. docs/reference/api.md states the conventions this enforces.
 */

const TAGS: Record<string, string> = {
  health: 'Liveness and readiness (no token needed)',
  targets: 'Streams to probe (admin to change)',
  sweeps: 'Ad hoc probes of targets across regions',
  results: 'Probe reports, from the results stream',
  summary: 'Windowed quantiles and ratios per region, target or probe',
  agents: 'The probe fleet: agents, regions, capacity, drain/resume/stop',
  injectors: 'Clock-strip injectors (glass-to-glass sources), from their heartbeats',
  schedules: 'Cron-driven sweeps (admin to change)',
  watches: 'Continuous probes of a target',
  alerts: 'Active alerts with evidence; firing history',
  rules: 'Alerting rules (admin to change)',
  silences: 'Silences and maintenance windows',
  events: 'Live feed (server-sent events), resumable with Last-Event-ID',
  runbooks: 'Runbooks of the shipped alerting rules (Markdown)',
};

const DESCRIPTION = `Controller API of liveprobe, a synthetic probe fleet for live video.

Conventions (docs/reference/api.md):
- Auth: \`Authorization: Bearer <token>\`; roles viewer (reads) < operator (sweeps, watches, silences) < admin.
- Errors: every 4xx/5xx answer is an RFC 9457 problem document (\`application/problem+json\`); validation errors list each invalid field in \`issues\`.
- Casing: resource fields are camelCase (\`agentId\`, \`durationS\`); measured quantities use the metrics vocabulary, snake_case with a unit suffix (\`startup_ms\`, \`rebuffer_ratio\`).
- Lists: cursor pagination with \`limit\` and \`cursor\`; the next page's URL is in the \`Link: <...>; rel="next"\` header.`;

/** Request-body examples of the main writes (the API contract test posts each one and expects it taken). */
export const EXAMPLES: Record<string, unknown> = {
  createTarget: {
    id: 'ch1',
    name: 'Channel 1',
    url: 'https://cdn.example.com/ch1/master.m3u8',
    protocol: 'hls',
    labels: { cdn: 'akamai', tier: 'premium' },
    expectations: { startup_ms: 3000 },
  },
  createSweep: { targets: ['ch1'], regions: ['*'], probe: 'browser', durationS: 30, name: 'pre-show check' },
  createWatch: { id: 'ch1-stream', target: 'ch1', regions: ['eu-west'], probe: 'stream', intervalS: 10 },
  createSilence: {
    matchers: [{ name: 'target', value: 'ch1' }],
    duration: '2h',
    comment: 'planned encoder maintenance',
  },
  createRule: {
    id: 'startup-slow-ch1',
    metric: 'startup_ms',
    agg: 'p95',
    window: '5m',
    op: '>',
    threshold: 3000,
    annotations: { summary: '{{target}}: startup p95 {{value}} ms', runbook_url: 'runbooks/startup-slow' },
  },
};

/** Descriptions of operations whose summary says too little. */
const DESCRIPTIONS: Record<string, string> = {
  listTargets: 'Every target, ordered by id; paged with `limit` and `cursor` (Link rel="next").',
  createSweep:
    'Starts an ad hoc sweep: one job per target x region, answered 202 with the sweep id and a capacity estimate; follow it with GET /v1/sweeps/{id} or the live feed.',
  getResults:
    'Reports from the results stream, filtered by target, region and time; paged by stream sequence (`next`).',
  getSummary:
    'Windowed counts, success ratio and p50/p95/p99 of the sketched figures, grouped by region, target or probe.',
  getEvents:
    'Server-sent events (text/event-stream): report, sweep, agent, alert. Resumable: reconnect with Last-Event-ID (or ?lastEventId=) to get the reports missed since, replayed from the results stream.',
  listAlerts:
    'Active alerts (pending and firing) with evidence, silences and notification records; newest first.',
  createSilence: 'A silence (matchers, start/end or duration, comment) or a recurring maintenance window.',
};

const VERBS: Record<string, string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'put',
  DELETE: 'delete',
  PATCH: 'patch',
};

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');
const singular = (s: string) =>
  s.endsWith('ies') ? `${s.slice(0, -3)}y` : /(ch|sh|ss|x)es$/.test(s) ? s.slice(0, -2) : s.replace(/s$/, '');

/**
 * GET /v1/targets -> listTargets, GET /v1/targets/:id -> getTarget, POST /v1/targets -> createTarget,
 * POST /v1/agents/:id/drain -> drainAgent, GET /v1/alerts/history -> listAlertsHistory, GET /healthz -> getHealthz.
 */
export function operationIdFor(method: string, url: string, returnsList: boolean): string {
  const parts = url.split('/').filter((p) => p && p !== 'v1');
  const statics = parts.filter((p) => !p.startsWith(':'));
  const last = parts[parts.length - 1] ?? '';
  const paramIndex = parts.findIndex((p) => p.startsWith(':'));
  if (method === 'POST' && paramIndex > 0 && paramIndex < parts.length - 1) {
    // an action on one resource
    return `${last}${pascal(singular(parts[paramIndex - 1] as string))}`;
  }
  const itemRoute = last.startsWith(':');
  if (itemRoute || method === 'POST') {
    const words = statics.map((p, i) => (i === statics.length - 1 ? singular(p) : p));
    return `${VERBS[method] ?? method.toLowerCase()}${pascal(words.join('-'))}`;
  }
  const verb = method === 'GET' && returnsList ? 'list' : (VERBS[method] ?? method.toLowerCase());
  return `${verb}${pascal(statics.join('-'))}`;
}

export function tagFor(url: string): string {
  const parts = url.split('/').filter((p) => p && p !== 'v1');
  const first = parts[0] ?? 'health';
  if (first === 'healthz' || first === 'readyz') return 'health';
  return first;
}

type JsonSchema = Record<string, unknown>;
type Operation = {
  operationId?: string;
  tags?: string[];
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; description?: string }[];
  responses?: Record<
    string,
    { description?: string; content?: Record<string, unknown>; headers?: JsonSchema }
  >;
};

const PAGE_PARAMS: Record<string, string> = {
  limit: 'Page size (1-1000, default 1000 on lists; /v1/results: 100)',
  cursor: 'Opaque cursor from the previous page (its Link rel="next" header; /v1/results: its `next` value)',
};

export function openapiOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'liveprobe controller API',
        version: VERSION,
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [{ url: '/', description: 'This controller' }],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API token (controller.tokens / LIVEPROBE_TOKENS); its role decides what it may do',
          },
        },
      },
      security: [{ bearer: [] }],
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    },
    transform: (doc) => {
      const out = jsonSchemaTransform(doc) as { schema: JsonSchema; url: string };
      const route = doc.route;
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method);
      const schema = { ...out.schema };
      const response = (schema.response ?? {}) as Record<string, JsonSchema>;
      schema.tags ??= [tagFor(doc.url)];
      schema.operationId ??= operationIdFor(method, doc.url, response['200']?.type === 'array');
      if (route.config?.public) schema.security = [];
      return { schema, url: out.url };
    },
    transformObject: (doc) => {
      const object = jsonSchemaTransformObject(doc) as {
        paths: Record<string, Record<string, Operation>>;
        tags?: { name: string; description?: string }[];
        components?: { schemas?: Record<string, unknown> };
      };
      const tags = new Set(object.tags?.map((t) => t.name));
      for (const [path, item] of Object.entries(object.paths)) {
        for (const [method, op] of Object.entries(item)) {
          finishOperation(method.toUpperCase(), path, op);
          for (const t of op.tags ?? []) {
            if (tags.has(t)) continue;
            tags.add(t);
            object.tags = [...(object.tags ?? []), { name: t, description: `${t} (${path})` }];
          }
        }
      }
      // zod's registry emits an input and an output variant of each named schema; drop the unused ones.
      const schemas = object.components?.schemas ?? {};
      // On the wire every problem has these (shared/api.ts says why the type leaves them optional).
      const problemSchema = schemas.Problem as { required?: string[] } | undefined;
      if (problemSchema) problemSchema.required = ['type', 'title', 'status', 'error', 'message'];
      const used = new Set<string>();
      const visit = (v: unknown) => {
        for (const m of JSON.stringify(v).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
          const name = m[1] as string;
          if (used.has(name)) continue;
          used.add(name);
          visit(schemas[name]);
        }
      };
      visit(object.paths);
      for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
      return object as ReturnType<typeof jsonSchemaTransformObject>;
    },
  };
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_TYPE]: { schema: PROBLEM_REF } },
});

/** Adds what every operation shares: problem+json errors, descriptions, pagination parameter docs. */
function finishOperation(method: string, path: string, op: Operation): void {
  op.responses ??= {};
  for (const [code, res] of Object.entries(op.responses)) {
    if (Number(code) >= 400 && res.content) {
      const schema = Object.values(res.content)[0] as { schema?: unknown } | undefined;
      res.content = { [PROBLEM_TYPE]: { schema: schema?.schema ?? PROBLEM_REF } };
    }
    if (!res.description || res.description === 'Default Response') {
      res.description = Number(code) < 300 ? 'Success' : 'Problem (RFC 9457)';
    }
  }
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  const hasInput = (op.parameters?.length ?? 0) > 0 || 'requestBody' in op;
  if (hasInput && !op.responses['400'])
    op.responses['400'] = problemResponse('Invalid request: `issues` lists each field');
  if (!isPublic) {
    op.responses['401'] ??= problemResponse('Missing or unknown bearer token');
    op.responses['403'] ??= problemResponse("The token's role may not do this");
  }
  if (method !== 'GET')
    op.responses['429'] ??= problemResponse('Too many writes; see the Retry-After header');
  op.responses['500'] ??= problemResponse('Internal error');
  for (const p of op.parameters ?? []) {
    if (!p.description && PAGE_PARAMS[p.name]) p.description = PAGE_PARAMS[p.name];
  }
  if (op.parameters?.some((p) => p.name === 'cursor') && op.responses['200'] && path !== '/v1/results') {
    op.responses['200'].headers ??= {
      Link: {
        description: 'RFC 8288 link to the next page (rel="next"), absent on the last page',
        schema: { type: 'string' },
      },
    };
  }
  const id = op.operationId ?? '';
  if (DESCRIPTIONS[id] && !op.description) op.description = DESCRIPTIONS[id];
  const body = (op as { requestBody?: { content?: Record<string, { example?: unknown }> } }).requestBody;
  const json = body?.content?.['application/json'];
  if (json && EXAMPLES[id] !== undefined) json.example ??= EXAMPLES[id];
  // "listAlertsHistory" -> "List alerts history"
  const words = (op.operationId ?? method).replace(/([A-Z])/g, ' $1').toLowerCase();
  op.summary ??= words.charAt(0).toUpperCase() + words.slice(1);
}

import { FINDING_CODES, METRIC_NAMES } from '../../shared/metrics.js';
import { Outcome } from '../../shared/schemas.js';

/**
 * The JSON casing convention (docs/reference/api.md), as a predicate over (path, field name):
 * 1. resource fields are camelCase;
 * 2. measured quantities come from the metrics vocabulary: its names (METRICS.md), or snake_case with a
 *    unit suffix (_ms, _s, _kbps, _ratio, _rate, _total, _count, _bytes); the few fields saying how one was
 *    measured (MEASUREMENT_QUALIFIERS) are snake_case too;
 * 3. the alerting resources (/v1/alerts, /v1/rules, /v1/silences) keep Prometheus rule and Alertmanager
 *    field names (snake_case: for, keep_firing_for, starts_at, created_by), so rule files and silences port;
 * 4. record keys that are values of a closed enum (outcomes like probe-error, finding codes) are data.
 */
const VOCABULARY = new Set<string>(METRIC_NAMES);
/**
 * Report fields that say how a measured quantity was measured: `<quantity>_<what>`, snake_case like the
 * quantity they qualify. A closed list on purpose: a new one is a decision, made here.
 */
const MEASUREMENT_QUALIFIERS = new Set([
  'latency_method',
  'g2g_method',
  'g2g_injector_id',
  'g2g_strip',
  'av_method',
]);
const ENUM_KEYS = new Set<string>([...Outcome.options, ...FINDING_CODES]);
const ALERTING_PATHS = /^\/v1\/(alerts|rules|silences)(\/|$)/;
export function fieldNameAllowed(path: string, name: string): boolean {
  if (/^[a-z][a-zA-Z0-9]*$/.test(name)) return true;
  if (VOCABULARY.has(name) || MEASUREMENT_QUALIFIERS.has(name)) return true;
  if (/^[a-z][a-z0-9]*(_[a-z0-9]+)*_(ms|s|kbps|ratio|rate|total|count|bytes)$/.test(name)) return true;
  if (ALERTING_PATHS.test(path) && /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name)) return true;
  return ENUM_KEYS.has(name);
}

/** Every property name in a JSON Schema (or an OpenAPI fragment), nested ones included. */
export function fieldNames(schema: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return out;
  seen.add(schema);
  const s = schema as Record<string, unknown>;
  if (s.properties && typeof s.properties === 'object')
    out.push(...Object.keys(s.properties as Record<string, unknown>));
  for (const v of Object.values(s)) fieldNames(v, out, seen);
  return out;
}

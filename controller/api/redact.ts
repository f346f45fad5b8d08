/**
 * What a viewer may see: signed URLs carry their credentials in the query string (and sometimes userinfo),
 * so every URL in a response to a viewer — stand-alone or inside a message — has them blanked. Operators and
 * admins, who can change targets anyway, see URLs as stored.
 */
import type { FastifyRequest } from 'fastify';
import { redactUrl } from '../../shared/log.js';

/** A URL inside text, up to whitespace or a delimiter (JSON quoting, HTML, markdown). */
const URL_IN_TEXT = /\bhttps?:\/\/[^\s"'<>`]+/gi;
const SECRET_BEARING = /[?@#]/;

export function redactText(s: string): string {
  if (!s.includes('://') || !SECRET_BEARING.test(s)) return s;
  return s.replace(URL_IN_TEXT, (u) => (SECRET_BEARING.test(u) ? redactUrl(u.replace(/#.*$/, '')) : u));
}

/**
 * A copy of `value` with every URL redacted; untouched branches are shared, not copied (a page of reports
 * without signed URLs costs one walk and no allocation).
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = redactDeep(value[i], depth + 1);
      if (v !== value[i]) {
        out ??= value.slice();
        out[i] = v;
      }
    }
    return (out ?? value) as T;
  }
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const r = redactDeep(v, depth + 1);
    if (r !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[k] = r;
    }
  }
  return (out ?? value) as T;
}

/** Viewers get redacted responses; so does an unauthenticated caller of a public route. */
export const seesSecrets = (req: FastifyRequest): boolean =>
  req.principal !== undefined && req.principal.role !== 'viewer';

/** fastify preSerialization hook: every JSON response to a viewer goes through redactDeep. */
export async function redactForViewers(
  req: FastifyRequest,
  _reply: unknown,
  payload: unknown,
): Promise<unknown> {
  return seesSecrets(req) ? payload : redactDeep(payload);
}

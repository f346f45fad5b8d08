import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { ApiError } from '../../shared/api.js';

/** RFC 9457 media type of every error answer. */
export const PROBLEM_TYPE = 'application/problem+json';

export type Problem = Required<Pick<import('zod').infer<typeof ApiError>, 'type' | 'title' | 'status'>> &
  import('zod').infer<typeof ApiError>;
export type Issue = { path: string; message: string };

/** Short machine codes, kept as the `error` extension member (what clients matched on before RFC 9457). */
const CODES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  406: 'not-acceptable',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  429: 'rate-limited',
  500: 'internal',
  502: 'bad-gateway',
  503: 'unavailable',
  504: 'timeout',
};

/**
 * An RFC 9457 problem document. `type` is "about:blank" (the status says what happened; `title` is its
 * reason phrase), `detail` says what about this request, `instance` is the request path. Extension
 * members: `error` (a short code, e.g. not-found, validation) and `message` (= detail) for clients written
 * before problem+json, and `issues` (one entry per invalid field) on validation errors.
 */
export function problemBody(
  status: number,
  detail: string,
  extra: { error?: string; issues?: Issue[]; instance?: string } = {},
): Problem {
  return {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    ...(extra.instance ? { instance: extra.instance } : {}),
    error:
      extra.error ??
      (extra.issues ? 'validation' : (CODES[status] ?? (status >= 500 ? 'internal' : 'error'))),
    message: detail,
    ...(extra.issues ? { issues: extra.issues } : {}),
  };
}

/** Sends a problem answer: `return problem(reply, 404, 'no target x')` from a route. */
export function problem<R>(
  reply: R,
  status: number,
  detail: string,
  extra: { error?: string; issues?: Issue[] } = {},
): R {
  // Generic over the route's reply type: route replies are typed by their own response schemas.
  const r = reply as unknown as FastifyReply;
  const path = r.request.url.split('?')[0];
  r.code(status)
    .type(PROBLEM_TYPE)
    .send(problemBody(status, detail, { ...extra, instance: path }));
  return reply;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * The preSerialization safety net: an error answer a route (or a plugin) sent in another shape becomes a
 * problem document, keeping its fields as extension members. New code should call problem() instead.
 */
export function asProblem(status: number, payload: unknown, instance: string): unknown {
  if (!isObject(payload) || Array.isArray(payload)) return payload;
  if (typeof payload.type === 'string' && typeof payload.title === 'string' && payload.status === status) {
    return payload;
  }
  const detail =
    typeof payload.message === 'string'
      ? payload.message
      : typeof payload.detail === 'string'
        ? payload.detail
        : (STATUS_CODES[status] ?? 'error');
  const issues = Array.isArray(payload.issues) ? (payload.issues as Issue[]) : undefined;
  const { error, message: _m, issues: _i, statusCode: _s, ...rest } = payload;
  return {
    ...rest,
    ...problemBody(status, detail, {
      ...(typeof error === 'string' && error !== STATUS_CODES[status] ? { error } : {}),
      ...(issues ? { issues } : {}),
      instance,
    }),
  };
}

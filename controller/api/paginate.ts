import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { z } from 'zod';

/**
 * Cursor pagination for every list route, applied centrally (server.ts) so route files stay as they are:
 * `?limit=&cursor=`; the list is ordered by a stable key, the cursor is the last key of the previous page
 * (opaque, base64url), and the next page's URL goes in an RFC 8288 `Link: <...>; rel="next"` header. The
 * body stays a plain JSON array, so clients that read one page of everything keep working. Keys, not
 * offsets: an item created or deleted between two pages neither repeats nor hides another.
 */
interface ListSpec {
  key: (item: Record<string, unknown>) => string;
  order: 'asc' | 'desc';
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const byId: ListSpec = { key: (i) => str(i.id), order: 'asc' };

/** GET routes answering a JSON array -> how their items are ordered. /v1/results pages by stream sequence. */
export const LISTS: Record<string, ListSpec> = {
  '/v1/targets': byId,
  '/v1/schedules': byId,
  '/v1/watches': byId,
  '/v1/rules': byId,
  '/v1/silences': byId,
  '/v1/sweeps': { key: (s) => `${str(s.createdAt)}|${str(s.id)}`, order: 'asc' },
  '/v1/agents': { key: (a) => str(a.agentId), order: 'asc' },
  '/v1/agents/regions': { key: (r) => str(r.region), order: 'asc' },
  '/v1/injectors': { key: (i) => String(i.id).padStart(5, '0'), order: 'asc' },
  '/v1/alerts': { key: (a) => `${str(a.active_at)}|${str(a.id)}`, order: 'desc' },
  '/v1/alerts/history': { key: (h) => `${str(h.fired_at)}|${str(h.id)}`, order: 'desc' },
};

export const MAX_PAGE = 1000;

const encode = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
const Cursor = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9_-]*$/, 'a cursor from a previous page')
  .transform((c) => Buffer.from(c, 'base64url').toString('utf8'));

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
  cursor: Cursor.optional(),
});

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on list routes by paginate's onRoute hook. */
    list?: ListSpec;
  }
}

type ZodObj = z.ZodObject<z.ZodRawShape>;

/** onRoute: list routes get `limit` and `cursor` in their querystring schema (a route's own `limit` wins). */
export function addPagination(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const spec = LISTS[route.url];
  if (!spec || !methods.includes('GET')) return;
  const schema = (route.schema ?? {}) as { querystring?: ZodObj };
  const own = schema.querystring;
  route.schema = {
    ...schema,
    querystring: own ? z.object({ ...PageQuery.shape, ...own.shape }) : PageQuery,
  } as RouteOptions['schema'];
  route.config = { ...(route.config as object), list: spec } as RouteOptions['config'];
}

/** preSerialization: one page of a list route's array, and the Link to the next one. */
export function pageOf(req: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
  const spec = req.routeOptions.config?.list;
  if (!spec || reply.statusCode !== 200 || !Array.isArray(payload)) return payload;
  const q = req.query as { limit?: number; cursor?: string };
  const limit = q.limit ?? MAX_PAGE;
  const dir = spec.order === 'asc' ? 1 : -1;
  const keyed = (payload as Record<string, unknown>[]).map((item) => ({ item, key: spec.key(item) }));
  keyed.sort((a, b) => dir * (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const after = q.cursor;
  const start =
    after === undefined ? 0 : keyed.findIndex((k) => dir * (k.key < after ? -1 : k.key > after ? 1 : 0) > 0);
  const rest = start < 0 ? [] : keyed.slice(start);
  const page = rest.slice(0, limit);
  if (rest.length > limit) {
    const url = new URL(req.url, 'http://x');
    url.searchParams.set('cursor', encode((page[page.length - 1] as { key: string }).key));
    url.searchParams.set('limit', String(limit));
    reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return page.map((k) => k.item);
}

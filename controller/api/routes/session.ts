import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import type { ApiToken } from '../../../shared/config.js';
import { problem } from '../problem.js';
import type { App } from '../server.js';
import { SESSION_COOKIE, SESSION_TTL_S, type Sessions } from '../session.js';

const SessionView = z.object({
  /** False when the API runs without tokens (everyone is admin, loopback only). */
  auth: z.boolean(),
  name: z.string(),
  role: z.enum(['viewer', 'operator', 'admin']),
});

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Browser sign-in: a token is exchanged once for a session cookie, so the page never stores the token and
 * its live feed (EventSource) is authenticated. These routes are public; they decide themselves.
 */
export const sessionRoutes = (tokens: ApiToken[], sessions: Sessions) => async (app: App) => {
  const known = tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) }));
  app.get(
    '/v1/session',
    {
      config: { public: true },
      schema: {
        description:
          'Who the caller is (session cookie or bearer token); auth=false when the API has no tokens.',
        response: { 200: SessionView, 401: ApiError },
      },
    },
    async (req, reply) => {
      if (known.length === 0) return { auth: false, name: 'anonymous', role: 'admin' as const };
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const bearer = m ? known.find((k) => timingSafeEqual(k.digest, digest(m[1] as string))) : undefined;
      const who = bearer ?? sessions.verify(req.cookies[SESSION_COOKIE]);
      if (!who) return problem(reply, 401, 'not signed in');
      return { auth: true, name: who.name, role: who.role };
    },
  );
  app.post(
    '/v1/session',
    {
      config: { public: true },
      schema: {
        description:
          'Sign in: exchanges an API token for an HttpOnly, SameSite=Strict session cookie (12 h).',
        body: z.object({ token: z.string().min(1).max(1000) }),
        response: { 200: SessionView, 400: ApiError, 401: ApiError },
      },
    },
    async (req, reply) => {
      if (known.length === 0) return { auth: false, name: 'anonymous', role: 'admin' as const };
      const d = digest(req.body.token);
      const who = known.find((k) => timingSafeEqual(k.digest, d));
      if (!who) {
        req.log.warn({ ip: req.ip }, 'sign-in with an unknown token');
        return problem(reply, 401, 'unknown token');
      }
      reply.setCookie(SESSION_COOKIE, sessions.issue(who.name, who.role), {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: req.protocol === 'https',
        maxAge: SESSION_TTL_S,
      });
      req.log.info({ principal: who.name, role: who.role }, 'signed in');
      return { auth: true, name: who.name, role: who.role };
    },
  );
  app.delete(
    '/v1/session',
    {
      config: { public: true },
      schema: { description: 'Sign out (clears the session cookie).', response: { 204: z.null() } },
    },
    async (_req, reply) => {
      reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict' });
      return reply.code(204).send(null);
    },
  );
};

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken, Role } from '../../shared/config.js';
import { SESSION_COOKIE, Sessions, sameOrigin } from './session.js';

export const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role that may call the route; default: viewer for reads, operator for writes. */
    role?: Role;
    /** Open to anyone (health checks). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Who called, by token name ("anonymous" when auth is off). */
    principal?: { name: string; role: Role };
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token auth with three roles: viewer (reads) < operator (sweeps, watches, silences) < admin
 * (targets, rules, schedules). Tokens are compared as SHA-256 digests in constant time and never logged.
 * With no tokens configured every caller is admin — the controller then binds to loopback only.
 * Browsers may instead carry a session cookie (./session.ts) made from a token at sign-in.
 */
export function authHook(tokens: ApiToken[], sessions = new Sessions(tokens)) {
  const known = tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) }));
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const cfg = req.routeOptions.config;
    // Protected unless marked public: a new route cannot be left open by forgetting a setting.
    if (cfg?.public) return;
    const need: Role = cfg?.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator');
    if (known.length === 0) {
      req.principal = { name: 'anonymous', role: 'admin' };
      return;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m && !header) {
      // The page's session cookie (EventSource cannot send a header).
      const who = sessions.verify(req.cookies?.[SESSION_COOKIE]);
      if (who) {
        const write = !(req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS');
        if (write && !sameOrigin(req.headers.origin, req.headers.host, req.protocol)) {
          await reply
            .code(403)
            .send({ error: 'forbidden', message: 'cross-origin write with a session cookie refused' });
          return;
        }
        if (RANK[who.role] < RANK[need]) {
          await reply
            .code(403)
            .send({ error: 'forbidden', message: `${who.role} may not do this; needs ${need}` });
          return;
        }
        req.principal = who;
        return;
      }
    }
    if (!m) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'unauthorized', message: 'missing bearer token' });
      return;
    }
    const d = digest(m[1] as string);
    const who = known.find((k) => timingSafeEqual(k.digest, d));
    if (!who) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ error: 'unauthorized', message: 'unknown token' });
      return;
    }
    if (RANK[who.role] < RANK[need]) {
      await reply
        .code(403)
        .send({ error: 'forbidden', message: `${who.role} may not do this; needs ${need}` });
      return;
    }
    req.principal = { name: who.name, role: who.role };
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

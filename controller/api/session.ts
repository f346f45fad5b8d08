import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ApiToken, Role } from '../../shared/config.js';

/** The browser session cookie: HttpOnly (no script reads it), SameSite=Strict (no cross-site sends). */
export const SESSION_COOKIE = 'liveprobe_session';
export const SESSION_TTL_S = 12 * 3600;

const Payload = z.object({ n: z.string(), r: z.enum(['viewer', 'operator', 'admin']), e: z.number() });

/**
 * Stateless signed sessions: the cookie carries (token name, role, expiry) and an HMAC keyed by the
 * configured tokens, so every replica accepts it, a controller restart keeps it, and changing or revoking
 * a token ends the sessions made with it (the key changes, and the name must still hold the role).
 */
export class Sessions {
  private readonly key: Buffer;
  private readonly roles: Map<string, Role>;

  constructor(tokens: ApiToken[]) {
    const material = tokens
      .map((t) => `${t.name}\u0000${t.role}\u0000${t.token}`)
      .sort()
      .join('\u0001');
    this.key = createHash('sha256').update(`liveprobe-session\u0002${material}`).digest();
    this.roles = new Map(tokens.map((t) => [t.name, t.role]));
  }

  issue(name: string, role: Role, now = Date.now()): string {
    const body = Buffer.from(JSON.stringify({ n: name, r: role, e: now + SESSION_TTL_S * 1000 })).toString(
      'base64url',
    );
    return `${body}.${this.sign(body)}`;
  }

  verify(value: string | undefined, now = Date.now()): { name: string; role: Role } | undefined {
    if (!value || value.length > 1024) return undefined;
    const dot = value.indexOf('.');
    if (dot < 1) return undefined;
    const body = value.slice(0, dot);
    const mac = Buffer.from(value.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.sign(body), 'base64url');
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    let parsed: z.infer<typeof Payload>;
    try {
      const p = Payload.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
      if (!p.success) return undefined;
      parsed = p.data;
    } catch {
      return undefined;
    }
    if (parsed.e <= now || this.roles.get(parsed.n) !== parsed.r) return undefined;
    return { name: parsed.n, role: parsed.r };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/**
 * A cookie-authenticated write must come from the page itself: its Origin must be this server's. (SameSite=
 * Strict already keeps the cookie off cross-site requests; this also covers same-site sibling origins.)
 */
export function sameOrigin(origin: string | undefined, host: string | undefined, protocol: string): boolean {
  if (!origin || !host) return false;
  try {
    const o = new URL(origin);
    return o.host === host && o.protocol === `${protocol}:`;
  } catch {
    return false;
  }
}

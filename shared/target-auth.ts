/**
 * Protected targets: request headers, cookies and URL tokens a CDN wants before it serves a stream. The
 * target (and so KV, jobs and reports) holds only secret *names* (`secretRef`); agents resolve them from their
 * environment (`LIVEPROBE_SECRET_<NAME>`) or from a file (`<agent.secretsDir>/<NAME>`, e.g. a mounted
 * Kubernetes or Docker secret). A token computed per request (Akamai-style `hdnts`, or a generic HMAC query
 * token) is derived on the agent at request time and never leaves it.
 *
 * Credentials are sent only to the target's own host (and `hosts`, globs): a playlist that points elsewhere
 * or a redirect to another host does not get them.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** A secret's name: letters, digits, `_` and `-` (it becomes an env var suffix and a file name). */
export const SecretRef = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'a secret name: letters, digits, "_" or "-"');

const Ref = z.strictObject({ secretRef: SecretRef });

export const TokenSpec = z.discriminatedUnion('type', [
  /**
   * Akamai EdgeAuth-style token: `hdnts=st=<start>~exp=<end>~acl=<acl>~hmac=<hex HMAC-SHA256>`; the secret is
   * the hex key shared with the CDN.
   */
  z.strictObject({
    type: z.literal('akamai-hdnts'),
    secretRef: SecretRef,
    param: z.string().min(1).max(64).default('hdnts'),
    /** Token lifetime from the request, seconds. */
    windowS: z.number().int().positive().max(86_400).default(300),
    /** Paths the token covers (default: everything). */
    acl: z.string().min(1).max(512).default('/*'),
  }),
  /**
   * Generic HMAC query token: `?<expiresParam>=<unix s>&<param>=<hex HMAC-SHA256(secret, path + expires)>`,
   * the scheme of most origin shields and signed-URL middlewares.
   */
  z.strictObject({
    type: z.literal('hmac-query'),
    secretRef: SecretRef,
    param: z.string().min(1).max(64).default('token'),
    expiresParam: z.string().min(1).max(64).default('expires'),
    windowS: z.number().int().positive().max(86_400).default(300),
  }),
]);
export type TokenSpec = z.infer<typeof TokenSpec>;

const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'an HTTP header name');
const ParamName = z.string().min(1).max(64);

export const TargetAuth = z.strictObject({
  /** Request headers whose values are secrets (e.g. Authorization, X-Cdn-Key). */
  headers: z.record(HeaderName, Ref).optional(),
  /** Cookies whose values are secrets. */
  cookies: z.record(ParamName, Ref).optional(),
  /** A static URL token: query parameters whose values are secrets. */
  query: z.record(ParamName, Ref).optional(),
  /** A token computed per request. */
  token: TokenSpec.optional(),
  /** Other hosts that get the credentials too (globs, e.g. `*.cdn.example.net`); the target's host always does. */
  hosts: z
    .array(z.string().regex(/^[A-Za-z0-9*.-]{1,253}$/))
    .max(20)
    .optional(),
});
export type TargetAuth = z.infer<typeof TargetAuth>;

export class SecretError extends Error {
  constructor(readonly secretRef: string) {
    super(
      `secret ${secretRef} not found: set LIVEPROBE_SECRET_${envSuffix(secretRef)} or a file named ${secretRef} in agent.secretsDir`,
    );
    this.name = 'SecretError';
  }
}

const envSuffix = (ref: string) => ref.toUpperCase().replace(/-/g, '_');

/** Resolves a secret by name: env LIVEPROBE_SECRET_<NAME> first, then the file <dir>/<name>. */
export function resolveSecret(ref: string, opts: { env?: NodeJS.ProcessEnv; dir?: string } = {}): string {
  const env = opts.env ?? process.env;
  const fromEnv = env[`LIVEPROBE_SECRET_${envSuffix(ref)}`];
  if (fromEnv) return fromEnv;
  if (opts.dir && SecretRef.safeParse(ref).success) {
    try {
      return readFileSync(join(opts.dir, ref), 'utf8').trim();
    } catch {
      // not there: the error below names both places
    }
  }
  throw new SecretError(ref);
}

/** What to send for one request: the URL to fetch (with any token) and extra headers. */
export interface Authorized {
  url: string;
  headers: Record<string, string>;
}

export type Authorizer = (url: string) => Authorized;

const globToRegex = (g: string) =>
  new RegExp(
    `^${g
      .toLowerCase()
      .split('*')
      .map((p) => p.replace(/\./g, '\\.'))
      .join('[a-z0-9.-]*')}$`,
  );

/**
 * Builds the per-request authorizer of a target on the agent (all secrets resolved up front, so a missing
 * one fails the job at once with a probe-error naming it). `now` is for tests.
 */
export function createAuthorizer(
  targetUrl: string,
  auth: TargetAuth,
  opts: { env?: NodeJS.ProcessEnv; dir?: string; now?: () => number } = {},
): Authorizer {
  const secret = (ref: string) => resolveSecret(ref, opts);
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(auth.headers ?? {})) headers[name] = secret(v.secretRef);
  const cookies = Object.entries(auth.cookies ?? {}).map(([n, v]) => `${n}=${secret(v.secretRef)}`);
  if (cookies.length) headers.cookie = cookies.join('; ');
  const query = Object.entries(auth.query ?? {}).map(([n, v]) => [n, secret(v.secretRef)] as const);
  const token = auth.token;
  const tokenKey = token ? secret(token.secretRef) : '';
  const now = opts.now ?? Date.now;
  const own = new URL(targetUrl).hostname.toLowerCase();
  const hosts = (auth.hosts ?? []).map(globToRegex);
  const covers = (host: string) => host === own || hosts.some((h) => h.test(host));
  return (url: string) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { url, headers: {} };
    }
    if (!covers(u.hostname.toLowerCase())) return { url, headers: {} };
    for (const [n, v] of query) u.searchParams.set(n, v);
    if (token) {
      const st = Math.floor(now() / 1000);
      const exp = st + token.windowS;
      if (token.type === 'akamai-hdnts') {
        const body = `st=${st}~exp=${exp}~acl=${token.acl}`;
        const key =
          /^[0-9a-f]+$/i.test(tokenKey) && tokenKey.length % 2 === 0
            ? Buffer.from(tokenKey, 'hex')
            : tokenKey;
        const mac = createHmac('sha256', key).update(body).digest('hex');
        u.searchParams.set(token.param, `${body}~hmac=${mac}`);
      } else {
        const mac = createHmac('sha256', tokenKey).update(`${u.pathname}${exp}`).digest('hex');
        u.searchParams.set(token.expiresParam, String(exp));
        u.searchParams.set(token.param, mac);
      }
    }
    return { url: u.href, headers: { ...headers } };
  };
}

/**
 * Checks on what a write asks the fleet to fetch: the egress policy (no SSRF through the API) and ad hoc
 * targets that would pose as a registered one. They throw errors carrying a status code, so the API's one
 * error handler formats them like every other client error.
 */
import type { EgressPolicy } from '../../shared/egress.js';
import { redactUrl } from '../../shared/log.js';

export class GuardError extends Error {
  constructor(
    readonly statusCode: 400 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'GuardError';
  }
}

interface AdHoc {
  id?: string | undefined;
  url: string;
}

/** 400 when a URL is refused by the egress policy (the message names the rule, never the query string). */
export function assertEgress(policy: EgressPolicy, url: string, where: string): void {
  const v = policy.checkUrl(url);
  if (!v.ok)
    throw new GuardError(400, `${where}: ${redactUrl(url)} refused by the egress policy: ${v.reason}`);
}

/**
 * Every ad hoc target of a request: allowed by the egress policy (400), and not reusing a registered
 * target's id (409), which would mix its results into that target's series and alerts.
 */
export function assertAdHocTargets(
  policy: EgressPolicy,
  targets: readonly (string | AdHoc)[],
  registered: (id: string) => unknown,
  where: string,
): void {
  for (const t of targets) {
    if (typeof t === 'string') continue;
    assertEgress(policy, t.url, where);
    if (t.id !== undefined && registered(t.id))
      throw new GuardError(
        409,
        `${where}: ad hoc target id ${t.id} is a registered target; use it by id or pick another id`,
      );
  }
}

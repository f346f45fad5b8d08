/**
 * The egress policy inside Chromium: every request of a page is paused (CDP Fetch domain, one round trip per
 * request, no Network-domain event stream) and continued only when the policy allows its URL and the
 * addresses its host resolves to. The harness page's own origin is always allowed.
 *
 * Chromium resolves names itself, so the address check here happens just before Chromium's own lookup, not
 * on the very address it connects to: a rebinding name with a TTL of 0 could still win that race. Where that
 * matters, run agents behind a firewall that drops private destinations (docs/operations/security.md).
 */
import type { CDPSession, Page } from 'puppeteer-core';
import type { EgressPolicy } from '../../shared/egress.js';
import { redactUrl } from '../../shared/log.js';
import type { Authorizer } from '../../shared/target-auth.js';

interface RequestPaused {
  requestId: string;
  request: { url: string; headers: Record<string, string> };
}

/**
 * Installs the guard on a page before it navigates; `onBlocked` hears each refused URL (redacted). With
 * `authorize` (a protected target) each allowed request also gets the target's credentials on the way out,
 * so the page itself never sees a secret or a computed token.
 */
export async function guardPage(
  page: Page,
  policy: EgressPolicy,
  harnessOrigin: string,
  onBlocked: (url: string, reason: string) => void,
  authorize?: Authorizer,
): Promise<CDPSession> {
  const cdp = await page.createCDPSession();
  cdp.on('Fetch.requestPaused', (e: RequestPaused) => {
    void (async () => {
      const reason = await refusal(policy, e.request.url, harnessOrigin);
      const a =
        reason === undefined && authorize && !e.request.url.startsWith(harnessOrigin)
          ? authorize(e.request.url)
          : undefined;
      if (reason === undefined && a && (a.url !== e.request.url || Object.keys(a.headers).length > 0)) {
        const headers = { ...e.request.headers, ...a.headers };
        await cdp.send('Fetch.continueRequest', {
          requestId: e.requestId,
          url: a.url,
          headers: Object.entries(headers).map(([name, value]) => ({ name, value })),
        });
      } else if (reason === undefined) {
        await cdp.send('Fetch.continueRequest', { requestId: e.requestId });
      } else {
        onBlocked(redactUrl(e.request.url), reason);
        await cdp.send('Fetch.failRequest', { requestId: e.requestId, errorReason: 'BlockedByClient' });
      }
    })().catch(() => {
      // the page or its session is gone: nothing left to continue or fail
    });
  });
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*', requestStage: 'Request' }] });
  return cdp;
}

async function refusal(
  policy: EgressPolicy,
  url: string,
  harnessOrigin: string,
): Promise<string | undefined> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a valid URL';
  }
  if (u.origin === harnessOrigin) return undefined;
  if (u.protocol === 'data:' || u.protocol === 'blob:') return undefined;
  const v = policy.checkUrl(url);
  if (!v.ok) return v.reason ?? 'refused';
  const r = await policy.checkResolved(u.hostname);
  return r.ok ? undefined : (r.reason ?? 'refused');
}

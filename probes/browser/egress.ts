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

interface RequestPaused {
  requestId: string;
  request: { url: string };
}

/** Installs the guard on a page before it navigates; `onBlocked` hears each refused URL (redacted). */
export async function guardPage(
  page: Page,
  policy: EgressPolicy,
  harnessOrigin: string,
  onBlocked: (url: string, reason: string) => void,
): Promise<CDPSession> {
  const cdp = await page.createCDPSession();
  cdp.on('Fetch.requestPaused', (e: RequestPaused) => {
    void (async () => {
      const reason = await refusal(policy, e.request.url, harnessOrigin);
      if (reason === undefined) {
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

/**
 * Generic webhook: the notification as JSON (Alertmanager-webhook-like), signed when a secret is set:
 *   X-Liveprobe-Signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * The receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in constant time,
 * and rejects stale timestamps (replays). verifySignature() is that check.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookReceiver } from '../config.js';
import { postJson } from './http.js';
import type { Notifier, Outgoing } from './types.js';

export const SIGNATURE_HEADER = 'x-liveprobe-signature';

export function sign(secret: string, timestampMs: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}.${body}`).digest('hex');
  return `t=${timestampMs},v1=${mac}`;
}

/** True when `header` signs `body` with `secret` and its timestamp is within toleranceMs of now. */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  now = Date.now(),
  toleranceMs = 5 * 60_000,
): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(now - t) > toleranceMs) return false;
  const expected = Buffer.from(sign(secret, t, body).split('v1=')[1] as string, 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2] as string, 'hex'));
}

export function webhookBody(n: Outgoing, externalUrl?: string): string {
  return JSON.stringify({
    version: '1',
    receiver: n.receiver,
    status: n.status,
    group_key: n.group_key,
    group_labels: n.group_labels,
    external_url: externalUrl,
    alerts: n.alerts,
  });
}

type R = import('zod').infer<typeof WebhookReceiver>;

export const webhookNotifier: Notifier<R> = {
  async send(r, n, ctx) {
    const body = webhookBody(n, ctx.externalUrl);
    const headers: Record<string, string> = { ...r.headers };
    if (r.secret) headers[SIGNATURE_HEADER] = sign(r.secret, Date.now(), body);
    await postJson({ fetch: ctx.fetch, url: r.url, body, headers, signal: ctx.signal });
  },
};

/**
 * Generic webhook: the notification in Alertmanager's webhook payload shape (version "4"), so anything that
 * already consumes Alertmanager webhooks understands it, signed per the Standard Webhooks spec when the
 * receiver has a secret (headers webhook-id, webhook-timestamp, webhook-signature: "v1,<base64 HMAC-SHA256
 * of id.timestamp.body>"; verify with the `standardwebhooks` library, docs/reference/webhooks.md).
 * A secret "whsec_<base64>" is used as Standard Webhooks defines it; any other string as raw key bytes.
 * The older X-Liveprobe-Signature header (t=<ms>,v1=<hex HMAC of "t.body">) is still sent for existing
 * receivers; verifySignature() checks it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { WebhookReceiver } from '../config.js';
import { formatNumber } from '../fingerprint.js';
import { postJson } from './http.js';
import type { Notifier, OutAlert, Outgoing } from './types.js';

export const SIGNATURE_HEADER = 'x-liveprobe-signature';
/** Alertmanager's "no end yet" for a firing alert. */
const NO_END = '0001-01-01T00:00:00Z';

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

/** Labels (or annotations) every alert of the notification shares, as Alertmanager's common* fields. */
function common(maps: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = maps;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((m) => m[k] === v)));
}

function alertOf(a: OutAlert): Record<string, unknown> {
  return {
    status: a.status,
    labels: a.labels,
    annotations: {
      ...a.annotations,
      ...(a.value === null ? {} : { value: formatNumber(a.value) }),
      ...(a.threshold === null ? {} : { threshold: formatNumber(a.threshold) }),
    },
    startsAt: a.starts_at,
    endsAt: a.status === 'resolved' ? (a.ends_at ?? NO_END) : NO_END,
    generatorURL: a.url ?? '',
    fingerprint: a.fingerprint,
    // liveprobe's own members (consumers of the Alertmanager shape ignore them)
    value: a.value,
    threshold: a.threshold,
    repeat: a.repeat,
    evidence: a.evidence,
  };
}

/** Alertmanager webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export function webhookBody(n: Outgoing, externalUrl?: string): string {
  return JSON.stringify({
    version: '4',
    groupKey: n.group_key,
    truncatedAlerts: 0,
    status: n.status,
    receiver: n.receiver,
    groupLabels: n.group_labels,
    commonLabels: common(n.alerts.map((a) => a.labels)),
    commonAnnotations: common(n.alerts.map((a) => a.annotations)),
    externalURL: externalUrl ?? '',
    alerts: n.alerts.map(alertOf),
  });
}

/**
 * The Standard Webhooks message id: the same for every retry of one notification (receivers dedupe on
 * it), different for the next state of the group.
 */
export function messageId(n: Outgoing): string {
  const what = n.alerts.map((a) => `${a.fingerprint}:${a.status}:${a.starts_at}:${a.repeat}`).sort();
  const h = createHash('sha256')
    .update(`${n.receiver}\n${n.group_key}\n${what.join('\n')}`)
    .digest('hex');
  return `msg_${h.slice(0, 32)}`;
}

/** Standard Webhooks signing key from a receiver secret: "whsec_<base64>" per the spec, else raw bytes. */
export function standardWebhook(secret: string): Webhook {
  return secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
}

/** webhook-id, webhook-timestamp and webhook-signature headers for `body`. */
export function standardHeaders(
  secret: string,
  id: string,
  body: string,
  now = new Date(),
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': standardWebhook(secret).sign(id, now, body),
  };
}

type R = import('zod').infer<typeof WebhookReceiver>;

export const webhookNotifier: Notifier<R> = {
  async send(r, n, ctx) {
    const body = webhookBody(n, ctx.externalUrl);
    const headers: Record<string, string> = { ...r.headers };
    if (r.secret) {
      Object.assign(headers, standardHeaders(r.secret, messageId(n), body, new Date(ctx.now)));
      headers[SIGNATURE_HEADER] = sign(r.secret, ctx.now, body);
    }
    await postJson({ fetch: ctx.fetch, url: r.url, body, headers, signal: ctx.signal });
  },
};

/**
 * Forward to an existing Alertmanager: POST <url>/api/v2/alerts with [{labels, annotations, startsAt,
 * endsAt, generatorURL}]. Firing alerts carry endsAt = now + 4 x resend_interval and are re-posted every
 * resend_interval (as Prometheus does), resolved ones endsAt = the resolve time; Alertmanager then
 * groups, deduplicates and routes by its own configuration.
 */
import type { AlertmanagerReceiver } from '../config.js';
import { formatNumber } from '../fingerprint.js';
import { durationMs } from '../schema.js';
import { postJson } from './http.js';
import type { Notifier, Outgoing } from './types.js';

type R = import('zod').infer<typeof AlertmanagerReceiver>;

export function alertmanagerBody(r: R, n: Outgoing, now: number, externalUrl?: string): string {
  const ttl = 4 * durationMs(r.resend_interval);
  return JSON.stringify(
    n.alerts.map((a) => ({
      labels: a.labels,
      annotations: {
        ...a.annotations,
        ...(a.value === null ? {} : { value: formatNumber(a.value) }),
        ...(a.threshold === null ? {} : { threshold: formatNumber(a.threshold) }),
      },
      startsAt: a.starts_at,
      endsAt:
        a.status === 'resolved'
          ? (a.ends_at ?? new Date(now).toISOString())
          : new Date(now + ttl).toISOString(),
      ...(a.url
        ? { generatorURL: a.url }
        : externalUrl
          ? { generatorURL: `${externalUrl}/v1/alerts/${a.fingerprint}` }
          : {}),
    })),
  );
}

export const alertmanagerNotifier: Notifier<R> = {
  async send(r, n, ctx) {
    const url = `${r.url.replace(/\/+$/, '')}/api/v2/alerts`;
    await postJson({
      fetch: ctx.fetch,
      url,
      body: alertmanagerBody(r, n, ctx.now, ctx.externalUrl),
      headers: r.headers,
      signal: ctx.signal,
    });
  },
};

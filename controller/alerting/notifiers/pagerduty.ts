/**
 * PagerDuty Events API v2: one event per alert, event_action trigger / resolve, dedup_key
 * "liveprobe-<fingerprint>" (stable: the same alert always updates the same incident).
 */
import type { PagerDutyReceiver } from '../config.js';
import { formatNumber } from '../fingerprint.js';
import { postJson } from './http.js';
import type { Notifier, OutAlert } from './types.js';

type R = import('zod').infer<typeof PagerDutyReceiver>;

export const dedupKey = (fingerprint: string) => `liveprobe-${fingerprint}`;

const PD_SEVERITY: Record<string, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
};

export function pagerDutyEvent(r: R, a: OutAlert, externalUrl?: string): Record<string, unknown> {
  if (a.status === 'resolved') {
    return { routing_key: r.routing_key, event_action: 'resolve', dedup_key: dedupKey(a.fingerprint) };
  }
  const where = a.labels.target ?? a.labels.agent ?? a.labels.region ?? 'liveprobe';
  const summary =
    a.annotations.summary ??
    `${a.labels.alertname} on ${where}${a.value === null ? '' : `: ${formatNumber(a.value)}`}`;
  return {
    routing_key: r.routing_key,
    event_action: 'trigger',
    dedup_key: dedupKey(a.fingerprint),
    payload: {
      summary: summary.slice(0, 1024),
      source: where,
      severity: PD_SEVERITY[a.labels.severity ?? ''] ?? 'error',
      timestamp: a.starts_at,
      component: a.labels.target,
      group: a.labels.region,
      class: a.labels.alertname,
      custom_details: {
        value: a.value,
        threshold: a.threshold,
        labels: a.labels,
        annotations: a.annotations,
        evidence: a.evidence,
      },
    },
    client: 'liveprobe',
    ...((r.client_url ?? a.url ?? externalUrl) ? { client_url: r.client_url ?? a.url ?? externalUrl } : {}),
    ...(a.annotations.runbook_url ? { links: [{ href: a.annotations.runbook_url, text: 'Runbook' }] } : {}),
  };
}

export const pagerDutyNotifier: Notifier<R> = {
  async send(r, n, ctx) {
    // One event per alert; PagerDuty deduplicates a repeated trigger by dedup_key, so a retry is harmless.
    for (const a of n.alerts) {
      await postJson({
        fetch: ctx.fetch,
        url: r.url,
        body: JSON.stringify(pagerDutyEvent(r, a, ctx.externalUrl)),
        signal: ctx.signal,
      });
    }
  },
};

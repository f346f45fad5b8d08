/**
 * Links a notification carries back to liveprobe: the command-center page of each alert, and its runbook.
 * Rules name runbooks relative to the controller (`runbooks/<rule-id>`, served by GET /runbooks/:id), so
 * the shipped rules work behind any proxy; here they become absolute against controller.externalUrl.
 */
import type { OutAlert, Outgoing } from './types.js';

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i;

/** An absolute runbook URL: relative ones resolved against the controller's external URL. */
export function resolveLink(link: string, externalUrl: string | undefined): string {
  if (ABSOLUTE.test(link) || !externalUrl) return link;
  return new URL(link.replace(/^\/+/, ''), `${externalUrl.replace(/\/+$/, '')}/`).toString();
}

/** The command-center page of one alert. */
export function alertPageUrl(externalUrl: string, a: Pick<OutAlert, 'fingerprint'>): string {
  return `${externalUrl.replace(/\/+$/, '')}/alerts?alert=${encodeURIComponent(a.fingerprint)}`;
}

/** The notification with every alert's page link set and its runbook_url made absolute. */
export function withLinks(n: Outgoing, externalUrl: string | undefined): Outgoing {
  if (!externalUrl) return n;
  return {
    ...n,
    alerts: n.alerts.map((a) => ({
      ...a,
      url: alertPageUrl(externalUrl, a),
      annotations: a.annotations.runbook_url
        ? { ...a.annotations, runbook_url: resolveLink(a.annotations.runbook_url, externalUrl) }
        : a.annotations,
    })),
  };
}

/** Slack incoming webhook: one message per notification, a line per alert with its regions and runbook. */
import type { SlackReceiver } from '../config.js';
import { formatNumber } from '../fingerprint.js';
import { postJson } from './http.js';
import type { Notifier, OutAlert, Outgoing } from './types.js';

type R = import('zod').infer<typeof SlackReceiver>;

function line(a: OutAlert): string {
  const icon =
    a.status === 'resolved'
      ? ':white_check_mark:'
      : a.labels.severity === 'critical'
        ? ':red_circle:'
        : ':warning:';
  const what = a.annotations.summary ?? a.labels.alertname ?? a.fingerprint;
  const where = a.labels.target ?? a.labels.agent ?? a.labels.region ?? '';
  const regions = a.evidence.regions
    .filter((r) => r.breaching)
    .map((r) => `${r.region}=${r.value === null ? 'n/a' : formatNumber(r.value)}`)
    .join(', ');
  const runbook = `${a.annotations.runbook_url ? ` <${a.annotations.runbook_url}|runbook>` : ''}${a.url ? ` <${a.url}|view>` : ''}`;
  return `${icon} *${a.status === 'resolved' ? 'RESOLVED' : a.repeat ? 'STILL FIRING' : 'FIRING'}* ${esc(what)}${where ? ` — \`${esc(where)}\`` : ''}${regions ? ` (${esc(regions)})` : ''}${runbook}`;
}

/** Slack mrkdwn control characters. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slackBody(r: R, n: Outgoing): string {
  const text = n.alerts.map(line).join('\n');
  return JSON.stringify({
    text,
    ...(r.channel ? { channel: r.channel } : {}),
    ...(r.username ? { username: r.username } : {}),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } }],
  });
}

export const slackNotifier: Notifier<R> = {
  async send(r, n, ctx) {
    await postJson({ fetch: ctx.fetch, url: r.webhook_url, body: slackBody(r, n), signal: ctx.signal });
  },
};

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertingFile, type Receiver } from '../config.js';
import { alertmanagerBody } from './alertmanager.js';
import { NOTIFIERS, notifierFor } from './index.js';
import { resolveLink, withLinks } from './links.js';
import { dedupKey, pagerDutyEvent } from './pagerduty.js';
import { slackBody } from './slack.js';
import type { OutAlert, Outgoing } from './types.js';
import { SIGNATURE_HEADER, sign, verifySignature, webhookBody } from './webhook.js';

const firing: OutAlert = {
  fingerprint: '0123456789abcdef',
  status: 'firing',
  repeat: false,
  labels: { alertname: 'playlist-stale', target: 'ch1', severity: 'critical' },
  annotations: { summary: 'ch1: playlist stale', runbook_url: 'https://runbooks.example/stale' },
  starts_at: '2026-05-01T00:00:00.000Z',
  value: 2,
  threshold: 0,
  evidence: {
    window: '1m',
    regions: [
      { region: 'eu', value: 2, breaching: true, reports: 5, sample_reports: ['job-1:3'] },
      { region: 'us', value: 0, breaching: false, reports: 5, sample_reports: [] },
    ],
  },
};
const resolved: OutAlert = { ...firing, status: 'resolved', ends_at: '2026-05-01T00:02:00.000Z' };
const outgoing = (alerts: OutAlert[]): Outgoing => ({
  receiver: 'r',
  group_key: 'r:{"target":"ch1"}',
  group_labels: { target: 'ch1' },
  status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
  alerts,
});
const receivers = (list: unknown[]) => AlertingFile.parse({ receivers: list }).receivers;

describe('notifiers', () => {
  const got: { path: string; headers: Record<string, unknown>; body: string }[] = [];
  let url = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(req.url?.includes('enqueue') ? 202 : 200).end('{}');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise((r) => server.close(r)));
  const ctx = () => ({
    fetch,
    signal: AbortSignal.timeout(5000),
    now: Date.now(),
    externalUrl: 'http://ctl:8080',
  });

  it('every receiver kind has a notifier', () => {
    expect(Object.keys(NOTIFIERS).sort()).toEqual(['alertmanager', 'pagerduty', 'slack', 'webhook']);
  });

  it('webhook: JSON body signed with HMAC-SHA256 over timestamp + body', async () => {
    const [r] = receivers([
      { name: 'hook', kind: 'webhook', url: `${url}/hook`, secret: 'a-very-secret-key-123' },
    ]);
    await notifierFor(r as Receiver).send(r as Receiver, outgoing([firing]), ctx());
    const hit = got.find((g) => g.path === '/hook');
    const header = hit?.headers[SIGNATURE_HEADER] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature('a-very-secret-key-123', header, hit?.body ?? '')).toBe(true);
    expect(verifySignature('another-secret-key-12', header, hit?.body ?? '')).toBe(false);
    expect(verifySignature('a-very-secret-key-123', header, `${hit?.body} `)).toBe(false);
    const body = JSON.parse(hit?.body ?? '{}');
    // Alertmanager's webhook payload, version 4
    expect(body).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'r',
      groupKey: expect.any(String),
      truncatedAlerts: 0,
      groupLabels: { target: 'ch1' },
      commonLabels: firing.labels,
      externalURL: 'http://ctl:8080',
    });
    expect(body.alerts[0]).toMatchObject({
      status: 'firing',
      fingerprint: firing.fingerprint,
      labels: firing.labels,
      startsAt: firing.starts_at,
      endsAt: '0001-01-01T00:00:00Z',
    });
    // Standard Webhooks: verified with the reference library, over the raw body
    const sw = new Webhook('a-very-secret-key-123', { format: 'raw' });
    const headers = hit?.headers as Record<string, string>;
    expect(headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(sw.verify(hit?.body ?? '', headers)).toMatchObject({ version: '4' });
    expect(() => sw.verify(`${hit?.body} `, headers)).toThrow(WebhookVerificationError);
    expect(() =>
      new Webhook('another-secret-key-12', { format: 'raw' }).verify(hit?.body ?? '', headers),
    ).toThrow(WebhookVerificationError);
    // A replayed (old) signature is refused.
    const old = sign('k'.repeat(16), Date.now() - 600_000, 'x');
    expect(verifySignature('k'.repeat(16), old, 'x')).toBe(false);
  });

  it('PagerDuty Events v2: trigger and resolve with one stable dedup_key', async () => {
    const [r] = receivers([
      { name: 'pd', kind: 'pagerduty', routing_key: 'RK123', url: `${url}/v2/enqueue` },
    ]);
    const pd = r as Extract<Receiver, { kind: 'pagerduty' }>;
    const t = pagerDutyEvent(pd, firing);
    expect(t).toMatchObject({
      routing_key: 'RK123',
      event_action: 'trigger',
      dedup_key: 'liveprobe-0123456789abcdef',
      payload: {
        summary: 'ch1: playlist stale',
        source: 'ch1',
        severity: 'critical',
        class: 'playlist-stale',
      },
      links: [{ href: 'https://runbooks.example/stale', text: 'Runbook' }],
    });
    expect(pagerDutyEvent(pd, resolved)).toEqual({
      routing_key: 'RK123',
      event_action: 'resolve',
      dedup_key: dedupKey(firing.fingerprint),
    });
    await notifierFor(pd).send(pd, outgoing([firing, resolved]), ctx());
    const events = got.filter((g) => g.path === '/v2/enqueue').map((g) => JSON.parse(g.body));
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
  });

  it('Slack incoming webhook format', () => {
    const [r] = receivers([{ name: 's', kind: 'slack', webhook_url: `${url}/slack`, channel: '#oncall' }]);
    const body = JSON.parse(
      slackBody(r as Extract<Receiver, { kind: 'slack' }>, outgoing([firing, resolved])),
    );
    expect(body.channel).toBe('#oncall');
    expect(body.text).toContain(
      ':red_circle: *FIRING* ch1: playlist stale — `ch1` (eu=2) <https://runbooks.example/stale|runbook>',
    );
    expect(body.text).toContain(':white_check_mark: *RESOLVED*');
    expect(body.blocks[0].type).toBe('section');
  });

  it('Alertmanager: POST /api/v2/alerts with startsAt/endsAt', async () => {
    const [r] = receivers([{ name: 'am', kind: 'alertmanager', url: `${url}/am/` }]);
    const am = r as Extract<Receiver, { kind: 'alertmanager' }>;
    const now = Date.parse('2026-05-01T00:01:00Z');
    const [f, z] = JSON.parse(alertmanagerBody(am, outgoing([firing, resolved]), now, 'http://ctl'));
    expect(f).toMatchObject({
      labels: firing.labels,
      startsAt: firing.starts_at,
      endsAt: '2026-05-01T00:05:00.000Z',
    });
    expect(f.annotations).toMatchObject({ summary: 'ch1: playlist stale', value: '2', threshold: '0' });
    expect(f.generatorURL).toBe('http://ctl/v1/alerts/0123456789abcdef');
    expect(z.endsAt).toBe(resolved.ends_at);
    await notifierFor(am).send(am, outgoing([firing]), ctx());
    expect(got.some((g) => g.path === '/am/api/v2/alerts')).toBe(true);
  });

  it('links: the alert page and a relative runbook resolved against the external URL', () => {
    const n = outgoing([
      { ...firing, annotations: { ...firing.annotations, runbook_url: 'runbooks/playlist-stale' } },
    ]);
    const linked = withLinks(n, 'https://probes.example.com/lp');
    expect(linked.alerts[0]?.annotations.runbook_url).toBe(
      'https://probes.example.com/lp/runbooks/playlist-stale',
    );
    expect(linked.alerts[0]?.url).toBe(`https://probes.example.com/lp/alerts?alert=${firing.fingerprint}`);
    // absolute runbook URLs are kept; without an external URL nothing changes
    expect(withLinks(outgoing([firing]), 'https://p.example').alerts[0]?.annotations.runbook_url).toBe(
      'https://runbooks.example/stale',
    );
    expect(withLinks(n, undefined)).toBe(n);
    expect(resolveLink('/runbooks/x', 'http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080/runbooks/x');
    // the webhook body carries the page as Alertmanager's generatorURL
    const body = JSON.parse(webhookBody(linked, 'https://probes.example.com/lp'));
    expect(body.alerts[0].generatorURL).toBe(linked.alerts[0]?.url);
    expect(body.alerts[0].annotations.runbook_url).toBe(
      'https://probes.example.com/lp/runbooks/playlist-stale',
    );
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { verifySignature } from '../../controller/alerting/notifiers/webhook.js';

function standardVerified(secret: string, raw: string, headers: Record<string, unknown>): boolean {
  try {
    new Webhook(secret, { format: 'raw' }).verify(raw, headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

import type { Report } from '../../shared/schemas.js';

export interface Receipt {
  path: string;
  at: number;
  body: unknown;
  raw: string;
  /** HMAC signature checked against the secret (webhook paths only). */
  signed: boolean | undefined;
}

/**
 * A local HTTP receiver for notifications: records every request, verifies the webhook HMAC, and answers
 * 503 on paths under /broken (a receiver that is down).
 */
export async function startReceiver(secret: string): Promise<{
  url: string;
  receipts: Receipt[];
  /** Webhook alerts received as [fingerprint, status, repeat] in arrival order. */
  alerts(
    path?: string,
  ): { fingerprint: string; status: string; labels: Record<string, string>; at: number }[];
  stop(): Promise<void>;
}> {
  const receipts: Receipt[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '';
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
      const header = req.headers['x-liveprobe-signature'] as string | undefined;
      receipts.push({
        path,
        at: Date.now(),
        body,
        raw,
        // both signatures: the Standard Webhooks one (checked with its reference library) and the older header
        signed: path.startsWith('/hook')
          ? verifySignature(secret, header, raw) && standardVerified(secret, raw, req.headers)
          : undefined,
      });
      if (path.startsWith('/broken')) return void res.writeHead(503).end('down');
      res.writeHead(path.startsWith('/pd') ? 202 : 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    receipts,
    alerts(path = '/hook') {
      return receipts
        .filter((r) => r.path === path)
        .flatMap((r) =>
          (
            (r.body as { alerts: { fingerprint: string; status: string; labels: Record<string, string> }[] })
              .alerts ?? []
          ).map((a) => ({ fingerprint: a.fingerprint, status: a.status, labels: a.labels, at: r.at })),
        );
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let seq = 0;
/** A stream-probe interval report, ending now. */
export function report(target: string, region: string, over: Partial<Report> = {}): Report {
  const n = ++seq;
  const end = Date.now();
  return {
    id: `t-${target}-${region}-${process.pid}-${n}:1`,
    jobId: `t-${target}-${region}-${process.pid}-${n}`,
    seq: 1,
    target: { id: target, url: `http://127.0.0.1:1/${target}/master.m3u8`, protocol: 'hls' },
    region,
    agentId: `agent-${region}`,
    probe: 'stream',
    mode: 'watch',
    startedAt: new Date(end - 2000).toISOString(),
    endedAt: new Date(end).toISOString(),
    outcome: 'ok',
    reasons: [],
    metrics: { segments_total: 1 },
    segments: [],
    errors: [],
    findings: [],
    version: 'test',
    ...over,
  };
}

export const failed = (target: string, region: string): Report =>
  report(target, region, {
    outcome: 'failed',
    reasons: ['master playlist: HTTP 404'],
    metrics: { errors_http: 1 },
  });

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The rules file the alerting tests run with: receivers on the local receiver, quick groups. */
export function rulesYaml(receiverUrl: string, secret: string, receivers = ['hook', 'pd', 'broken']): string {
  return `
evaluation_interval: 1s
route:
  receivers: [${receivers.join(', ')}]
  group_by: [target]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: hook
    kind: webhook
    url: ${receiverUrl}/hook
    secret: ${secret}
  - name: pd
    kind: pagerduty
    routing_key: test-routing-key
    url: ${receiverUrl}/pd/v2/enqueue
  - name: broken
    kind: webhook
    url: ${receiverUrl}/broken
    retry: { initial_backoff: 200ms, max_backoff: 1s, max_elapsed: 5s, timeout: 2s }
rules:
  - id: unplayable
    metric: success_ratio
    agg: ratio
    window: 1m
    op: '<'
    threshold: 0.5
    quorum: { regions: 2 }
    for: 0s
    severity: critical
    annotations:
      summary: '{{target}} unplayable in 2+ regions (success {{value}})'
      runbook_url: https://runbooks.example/unplayable
`;
}

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { AlertingFile, type Receiver } from './config.js';
import type { Notification } from './group.js';
import { type ClaimLog, Dispatcher } from './notify.js';
import type { Alert, NotificationRecord } from './schema.js';

const logger = createLogger('test', 'silent');

class MemoryLog implements ClaimLog {
  readonly entries = new Map<string, NotificationRecord>();
  async claim(key: string, rec: NotificationRecord) {
    if (this.entries.has(key)) return false;
    this.entries.set(key, rec);
    return true;
  }
  async record(key: string, patch: Partial<NotificationRecord>) {
    const e = this.entries.get(key);
    if (e) this.entries.set(key, { ...e, ...patch });
  }
}

const alert: Alert = {
  id: 'a'.repeat(16),
  rule: 'stale',
  state: 'firing',
  labels: { alertname: 'stale', target: 'ch1', severity: 'critical' },
  annotations: { summary: 'ch1 stale' },
  active_at: '2026-05-01T00:00:00.000Z',
  fired_at: '2026-05-01T00:00:00.000Z',
  updated_at: '2026-05-01T00:00:00.000Z',
  value: 1,
  threshold: 0,
  held: false,
  evidence: { regions: [] },
};

describe('notify: retries, isolation, claims', () => {
  let url = '';
  const hits: { path: string; at: number }[] = [];
  let failFirst = 0;
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      hits.push({ path: req.url ?? '', at: Date.now() });
      if (req.url === '/hang') return; // never answers
      if (req.url === '/bad') return void res.writeHead(400).end('no');
      if (req.url === '/flaky' && failFirst-- > 0) return void res.writeHead(503).end('busy');
      res.writeHead(200).end('ok');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const receiver = (name: string, path: string, retry: Record<string, unknown> = {}): Receiver =>
    AlertingFile.parse({
      receivers: [
        { name, kind: 'webhook', url: `${url}${path}`, retry: { initial_backoff: '10ms', ...retry } },
      ],
    }).receivers[0] as Receiver;
  const notification = (r: Receiver, what = 'firing'): Notification => ({
    receiver: r,
    groupKey: `${r.name}:ch1`,
    groupLabels: { target: 'ch1' },
    items: [{ alert, what, key: `${alert.id}.1.${r.name}.${what}` }],
  });

  it('retries a 503 with backoff until it is taken, and records the attempts', async () => {
    const log = new MemoryLog();
    const d = new Dispatcher({ log, logger, holder: 'h' });
    failFirst = 2;
    d.dispatch(notification(receiver('flaky', '/flaky')));
    await d.idle();
    expect(hits.filter((h) => h.path === '/flaky')).toHaveLength(3);
    expect(log.entries.get(`${alert.id}.1.flaky.firing`)).toMatchObject({
      attempts: 3,
      sent_at: expect.any(String),
    });
  });

  it('does not retry a 400; records the error', async () => {
    const log = new MemoryLog();
    const d = new Dispatcher({ log, logger, holder: 'h' });
    d.dispatch(notification(receiver('bad', '/bad')));
    await d.idle();
    expect(hits.filter((h) => h.path === '/bad')).toHaveLength(1);
    expect(log.entries.get(`${alert.id}.1.bad.firing`)).toMatchObject({ attempts: 1, error: 'HTTP 400: no' });
  });

  it('a hanging receiver delays no other receiver', async () => {
    const log = new MemoryLog();
    const d = new Dispatcher({ log, logger, holder: 'h' });
    d.dispatch(notification(receiver('hang', '/hang', { timeout: '1s', max_elapsed: '1s' })));
    d.dispatch(notification(receiver('ok', '/ok')));
    // The healthy receiver's notification arrives while the other one is still waiting on its socket.
    while (!hits.some((h) => h.path === '/ok')) await new Promise((r) => setTimeout(r, 10));
    // ...that is: the hanging one has neither been delivered nor given up yet.
    expect(log.entries.get(`${alert.id}.1.hang.firing`)).toMatchObject({ attempts: 0 });
    expect(log.entries.get(`${alert.id}.1.hang.firing`)?.error).toBeUndefined();
    await d.idle();
    expect(log.entries.get(`${alert.id}.1.hang.firing`)?.error).toBe('timeout');
  });

  it('a notification already claimed (another replica, an earlier run) is not sent', async () => {
    const log = new MemoryLog();
    const r = receiver('ok2', '/ok');
    await log.claim(`${alert.id}.1.ok2.firing`, {
      receiver: 'ok2',
      kind: 'webhook',
      what: 'firing',
      claimed_at: new Date().toISOString(),
      attempts: 0,
      holder: 'other',
    });
    const before = hits.length;
    const d = new Dispatcher({ log, logger, holder: 'h' });
    d.dispatch(notification(r));
    expect(d.inflight.has(`${alert.id}.1.ok2.firing`)).toBe(true);
    await d.idle();
    expect(hits.length).toBe(before);
    expect(d.inflight.size).toBe(0);
  });
});

/**
 * A receiver URL that turned hostile: it redirects the controller to an internal address, or answers with an
 * endless body. The notifier follows no redirect and reads a bounded prefix of the answer.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotifyError, postJson } from '../../controller/alerting/notifiers/http.js';

describe('notifier HTTP against a hostile receiver', () => {
  let server: http.Server;
  let base = '';
  const internalHits: string[] = [];
  let sentBytes = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(307, { location: `${base}/internal` }).end();
      } else if (req.url === '/internal') {
        internalHits.push(req.method ?? '');
        res.end('ok');
      } else {
        // 500 with an endless body: written until the client stops reading
        res.writeHead(500);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (res.write(chunk)) {
            sentBytes += chunk.length;
            if (sentBytes > 256 * 1024 * 1024) return void res.end();
          }
          res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        pump();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => server?.close());

  it('does not follow a redirect: a non-retryable error naming it', async () => {
    const err = await postJson({
      fetch,
      url: `${base}/redirect`,
      body: '{}',
      signal: AbortSignal.timeout(5000),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifyError);
    expect((err as NotifyError).retryable).toBe(false);
    expect((err as NotifyError).message).toMatch(/redirects are not followed/);
    expect(internalHits).toEqual([]);
  });

  it('reads only the start of an endless answer', async () => {
    const err = (await postJson({
      fetch,
      url: `${base}/endless`,
      body: '{}',
      signal: AbortSignal.timeout(10_000),
    }).catch((e: unknown) => e)) as NotifyError;
    expect(err).toBeInstanceOf(NotifyError);
    expect(err.status).toBe(500);
    expect(err.retryable).toBe(true);
    // the client stopped reading long before the server's 256 MiB
    expect(sentBytes).toBeLessThan(64 * 1024 * 1024);
  });
});

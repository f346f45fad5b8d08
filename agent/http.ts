import { createServer } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../shared/log.js';
import type { ProbeKind } from '../shared/schemas.js';
import type { PublisherStats } from './publisher.js';

/** What the agent exposes to its orchestrator; read at scrape time, so serving costs nothing between scrapes. */
export interface AgentHealthSource {
  id: string;
  region: string;
  /** NATS connection up (false between a disconnect and the reconnect). */
  connected(): boolean;
  stopping(): boolean;
  draining(): boolean;
  snapshot(): { capacity: Record<ProbeKind, number>; running: Record<ProbeKind, number> };
  publisher(): PublisherStats;
  jobs(): { started: number; completed: number; handedBack: number; expired: number };
  browser(): { healthy: boolean } | undefined;
}

export interface AgentHttp {
  port: number;
  close(): Promise<void>;
}

/**
 * The agent's optional HTTP port (agent.httpPort): /healthz for liveness and readiness probes, /metrics for
 * Prometheus. /healthz answers 503 only while the agent stops. A NATS outage does not make it unhealthy (the
 * spool and the leaf node ride it out, and a restart would not help), and neither does a dead browser (the
 * pool relaunches it at the next job); both are reported in the body and in /metrics.
 */
export async function startAgentHttp(opts: {
  host: string;
  port: number;
  source: AgentHealthSource;
  logger: Logger;
}): Promise<AgentHttp> {
  const { source } = opts;
  const registry = new Registry();
  registry.setDefaultLabels({ agent: source.id, region: source.region });
  const gauge = (name: string, help: string, labelNames: string[], read: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        read(this as Gauge);
      },
    });
  gauge('liveprobe_agent_nats_connected', '1 while the NATS connection is up', [], (g) =>
    g.set(source.connected() ? 1 : 0),
  );
  gauge('liveprobe_agent_draining', '1 while the agent takes no new jobs', [], (g) =>
    g.set(source.draining() ? 1 : 0),
  );
  gauge('liveprobe_agent_capacity', 'Job slots per probe kind', ['probe'], (g) => {
    for (const [probe, n] of Object.entries(source.snapshot().capacity)) g.set({ probe }, n);
  });
  gauge('liveprobe_agent_running', 'Running jobs per probe kind', ['probe'], (g) => {
    for (const [probe, n] of Object.entries(source.snapshot().running)) g.set({ probe }, n);
  });
  gauge('liveprobe_agent_spool_depth', 'Reports waiting in the on-disk spool', [], (g) =>
    g.set(source.publisher().spoolDepth),
  );
  gauge(
    'liveprobe_agent_browser_healthy',
    '1 when the browser is up (absent before the first browser job)',
    [],
    (g) => {
      const b = source.browser();
      g.reset();
      if (b) g.set(b.healthy ? 1 : 0);
    },
  );
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // The agent keeps its own running totals; the counter mirrors them at scrape time.
        const c = this as Counter;
        c.reset();
        c.inc(read());
      },
    });
  const pub = (k: keyof PublisherStats) => () => source.publisher()[k];
  counter('liveprobe_agent_reports_published_total', 'Reports stored by JetStream', pub('published'));
  counter('liveprobe_agent_reports_spooled_total', 'Reports written to the spool', pub('spooled'));
  counter('liveprobe_agent_reports_dropped_total', 'Reports lost to this agent', pub('dropped'));
  counter('liveprobe_agent_publish_retries_total', 'Publish attempts retried', pub('retries'));
  counter('liveprobe_agent_jobs_completed_total', 'Jobs completed', () => source.jobs().completed);
  counter('liveprobe_agent_jobs_handed_back_total', 'Jobs handed back', () => source.jobs().handedBack);

  // Two fixed GET routes and no request body: node:http is enough (fastify stays the controller's API).
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') {
      const browser = source.browser();
      const healthy = !source.stopping();
      return send(
        healthy ? 200 : 503,
        'application/json',
        JSON.stringify({
          status: healthy ? 'ok' : 'stopping',
          agent: source.id,
          region: source.region,
          nats: source.connected() ? 'connected' : 'disconnected',
          draining: source.draining(),
          ...(browser ? { browser: browser.healthy ? 'up' : 'down' } : {}),
        }),
      );
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (err: Error) => send(500, 'text/plain', `${err.message}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'not found: try /healthz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  opts.logger.info({ host: opts.host, port }, 'agent HTTP port: /healthz, /metrics');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

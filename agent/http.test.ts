import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { type AgentHealthSource, startAgentHttp } from './http.js';

/** The agent's optional HTTP port (deploy: orchestrator probes and Prometheus) and the deploy config keys. */
describe('agent HTTP port', () => {
  const state = { connected: true, stopping: false, browser: undefined as { healthy: boolean } | undefined };
  const publisher = {
    published: 7,
    duplicates: 0,
    retries: 1,
    spooled: 2,
    replayed: 2,
    dropped: 0,
    spoolDepth: 0,
    spoolBytes: 0,
  };
  const source: AgentHealthSource = {
    id: 'a1',
    region: 'eu-west',
    connected: () => state.connected,
    stopping: () => state.stopping,
    draining: () => false,
    snapshot: () => ({ capacity: { browser: 2, stream: 100 }, running: { browser: 1, stream: 0 } }),
    publisher: () => publisher,
    jobs: () => ({ started: 3, completed: 3, handedBack: 0, expired: 0 }),
    browser: () => state.browser,
  };

  it('answers /healthz (200, 503 only while stopping) and /metrics with the agent totals', async () => {
    const http = await startAgentHttp({
      host: '127.0.0.1',
      port: 0,
      source,
      logger: createLogger('t', 'silent'),
    });
    const url = `http://127.0.0.1:${http.port}`;
    try {
      state.connected = false;
      state.browser = { healthy: false };
      const sick = await fetch(`${url}/healthz`);
      // A NATS outage or a dead browser is reported, not fatal: a restart would not help.
      expect(sick.status).toBe(200);
      expect(await sick.json()).toMatchObject({
        status: 'ok',
        nats: 'disconnected',
        browser: 'down',
        agent: 'a1',
      });
      state.stopping = true;
      expect((await fetch(`${url}/healthz`)).status).toBe(503);

      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^liveprobe_agent_reports_published_total\{agent="a1",region="eu-west"\} 7$/m);
      expect(text).toMatch(/^liveprobe_agent_running\{probe="browser",agent="a1",region="eu-west"\} 1$/m);
      expect(text).toMatch(/^liveprobe_agent_browser_healthy\{agent="a1",region="eu-west"\} 0$/m);
      // Counters mirror the agent's totals at each scrape (never double-counted).
      publisher.published = 9;
      const again = await (await fetch(`${url}/metrics`)).text();
      expect(again).toMatch(/^liveprobe_agent_reports_published_total\{agent="a1",region="eu-west"\} 9$/m);
      expect((await fetch(`${url}/nope`)).status).toBe(404);
      expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await http.close();
    }
  });
});

describe('deploy config keys', () => {
  it('LIVEPROBE_CHROMIUM_ARGS replaces every Chromium flag; a non-flag is refused', () => {
    const c = loadConfig({ env: { LIVEPROBE_CHROMIUM_ARGS: '  --no-sandbox   --disable-gpu ' } });
    expect(c.browser.args).toEqual(['--no-sandbox', '--disable-gpu']);
    expect(ConfigSchema.parse({}).browser.args).toBeUndefined();
    expect(() => loadConfig({ env: { LIVEPROBE_CHROMIUM_ARGS: 'rm -rf' } })).toThrow(/browser\.args/);
  });

  it('leaf regions from a comma list, the JetStream domain and the agent HTTP port from env', () => {
    const c = loadConfig({
      env: {
        LIVEPROBE_LEAF_REGIONS: 'eu-west, us-east',
        LIVEPROBE_JS_DOMAIN: 'hub',
        LIVEPROBE_AGENT_HTTP_PORT: '9464',
      },
    });
    expect(c.nats.leafRegions).toEqual(['eu-west', 'us-east']);
    expect(c.nats.domain).toBe('hub');
    expect(c.agent.httpPort).toBe(9464);
    expect(c.agent.httpHost).toBe('127.0.0.1');
    expect(() => loadConfig({ env: { LIVEPROBE_JS_DOMAIN: 'a.b' } })).toThrow(/nats\.domain/);
    expect(() => loadConfig({ env: { LIVEPROBE_LEAF_REGIONS: 'eu west' } })).toThrow(/nats\.leafRegions/);
  });
});

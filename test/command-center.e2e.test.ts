import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../agent/index.js';
import { JetStreamPublisher } from '../agent/publisher.js';
import { createProbers } from '../cli/probers.js';
import { type Controller, startController } from '../controller/index.js';
import { resolveChromiumPath } from '../probes/browser/index.js';
import { type Config, loadConfig } from '../shared/config.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import { names } from '../shared/subjects.js';
import { startTestbed, type Testbed } from '../testbed/index.js';
import { freePort, startNats } from './helpers/procs.js';

// The command center in real Chromium against the real stack (nats-server, ffmpeg testbed, controller,
// agent with the real stream prober). Saves a screenshot of each view under docs/img/.
const TOKENS = {
  viewer: 'e2e-viewer-token-0123456789',
  operator: 'e2e-operator-token-0123456789',
  admin: 'e2e-admin-token-0123456789abc',
};
const IMG = join(import.meta.dirname, '..', 'docs', 'img');
const logger = createLogger('test', 'warn');

describe('command center in Chromium against the real stack', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let testbed: Testbed;
  let config: Config;
  let controller: Controller;
  let agent: Agent;
  let browser: Browser;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];
  const api = async (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => {
    const res = await fetch(`${controller.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${init.token ?? TOKENS.admin}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body ? JSON.stringify(init.body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as unknown };
  };
  const shot = (name: string) => page.screenshot({ path: join(IMG, `${name}.png`) });
  const cellState = () =>
    page.evaluate(() =>
      document.querySelector('a.cell[href^="/target/testbed"]')?.getAttribute('data-state'),
    );

  beforeAll(async () => {
    mkdirSync(IMG, { recursive: true });
    nats = await startNats();
    testbed = await startTestbed({ port: 0, ladder: 'single', logger });
    config = loadConfig({
      env: {
        LIVEPROBE_TOKENS: `wall:viewer:${TOKENS.viewer},oncall:operator:${TOKENS.operator},ops:admin:${TOKENS.admin}`,
      },
      overrides: {
        'nats.url': nats.url,
        // the testbed is on loopback, which the egress policy closes by default
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'agent.region': 'local',
        'agent.heartbeatS': 1,
      },
    });
    controller = await startController({ config, logger });
    agent = await startAgent({ config, logger, probers: createProbers(config, logger) });
    const stream = testbed.streams[0];
    if (!stream) throw new Error('testbed has no stream');
    await controller.targets.put({
      id: 'testbed',
      name: 'liveprobe testbed',
      url: stream.url,
      protocol: stream.protocol,
      labels: { cdn: 'origin', event: 'e2e' },
      expectations: {},
    });
    // continuous stream probing, and a rule that fires on any failed probe in one region
    expect(
      (
        await api('/v1/watches', {
          method: 'POST',
          body: {
            id: 'e2e',
            target: 'testbed',
            regions: ['local'],
            probe: 'stream',
            intervalS: 1,
            chunkS: 120,
          },
        })
      ).status,
    ).toBeLessThan(300);
    expect(
      (
        await api('/v1/rules', {
          method: 'POST',
          body: {
            id: 'e2e-failed',
            metric: 'outcome_failed',
            agg: 'count',
            op: '>',
            threshold: 0,
            window: '1m',
            severity: 'critical',
            annotations: { summary: '{{target}}: failed probes' },
          },
        })
      ).status,
    ).toBe(201);
    profile = mkdtempSync(join(tmpdir(), 'liveprobe-cc-e2e-'));
    browser = await puppeteer.launch({
      executablePath: resolveChromiumPath(config.browser.chromium),
      headless: true,
      userDataDir: profile,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      defaultViewport: { width: 1600, height: 1000 },
    });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await controller?.stop();
    await testbed?.stop();
    await nats?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  }, 60_000);

  it('signs in with a token and the board shows the testbed cell, live', async () => {
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('form[aria-label="sign in"]');
    await shot('signin');
    await page.type('input[name="token"]', TOKENS.operator);
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => location.pathname === '/' && !!document.querySelector('.grid'), {
      timeout: 30_000,
    });
    // the watch reports every second: the cell turns ok from the live feed
    await page.waitForSelector('a.cell[href^="/target/testbed"][data-state="ok"]', { timeout: 60_000 });
    const text = await page.evaluate(() => document.body.textContent ?? '');
    expect(text).toContain('testbed');
    expect(text).toContain('local');
    expect(text).toContain('cdn=origin');
    expect(text).toMatch(/oncall \(operator\)/);
    // the session cookie is HttpOnly: the page's script cannot read it
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await shot('board');
    await page.goto(`${controller.url}/?wall=1`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('a.cell[data-state="ok"]', { timeout: 30_000 });
    expect(await page.$('.controls')).toBeNull();
    await shot('wall');
  }, 120_000);

  let faultId = '';
  it('a fault in the testbed turns the cell failed within 10 s, and the alert appears in Alerts', async () => {
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('a.cell[data-state="ok"]', { timeout: 30_000 });
    const stream = testbed.streams[0]?.id as string;
    faultId = testbed.faults.inject({ stream, type: 'status', code: 404, on: 'all' }).id;
    await page.waitForSelector('a.cell[href^="/target/testbed"][data-state="failed"]', { timeout: 10_000 });
    expect(await cellState()).toBe('failed');
    await shot('board-failed');
    await page.click('nav a[href="/alerts"]');
    await page.waitForFunction(
      () => document.querySelector('#firing')?.textContent?.includes('e2e-failed') ?? false,
      { timeout: 60_000 },
    );
    // the header counts it too
    await page.waitForFunction(
      () => /[1-9] firing/.test(document.querySelector('.firing')?.textContent ?? ''),
      {
        timeout: 30_000,
      },
    );
    await shot('alerts');
  }, 120_000);

  it('a silence made from the page silences the alert (checked through the API)', async () => {
    await page.click('#firing button');
    await page.waitForSelector('form.silence-form');
    const matchers = await page.$$eval('form.silence-form .matcher input', (els) =>
      els.map((e) => (e as HTMLInputElement).value),
    );
    expect(matchers).toEqual(expect.arrayContaining(['alertname', 'e2e-failed', 'target', 'testbed']));
    await page.type('form.silence-form input[name="comment"]', 'e2e: known testbed fault');
    await page.click('form.silence-form button[type="submit"]');
    await page.waitForFunction(
      () => document.querySelector('#silences')?.textContent?.includes('e2e: known'),
      {
        timeout: 30_000,
      },
    );
    const silences = (await api('/v1/silences?status=active')).body as {
      created_by: string;
      comment: string;
      matchers: { name: string; value: string }[];
    }[];
    const mine = silences.find((s) => s.comment === 'e2e: known testbed fault');
    expect(mine?.created_by).toBe('oncall');
    expect(mine?.matchers).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'alertname', value: 'e2e-failed' })]),
    );
    const alerts = (await api('/v1/alerts')).body as { rule: string; silenced_by: string[] }[];
    expect(alerts.find((a) => a.rule === 'e2e-failed')?.silenced_by.length).toBeGreaterThan(0);
    await page.waitForFunction(
      () => document.querySelector('#silenced')?.textContent?.includes('e2e-failed'),
      {
        timeout: 30_000,
      },
    );
    await shot('alerts-silenced');
    testbed.faults.remove(faultId);
  }, 90_000);

  it('the target view charts the last hour per region and lists the latest reports', async () => {
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('a.cell[href^="/target/testbed"]');
    await page.click('a.cell[href^="/target/testbed"]');
    await page.waitForFunction(() => location.pathname === '/target/testbed');
    await page.waitForSelector('.chart canvas', { timeout: 30_000 });
    await page.waitForSelector('table.reports tbody tr', { timeout: 30_000 });
    const titles = await page.$$eval('.chart h3', (els) => els.map((e) => e.textContent));
    expect(titles).toEqual(expect.arrayContaining(['Startup p95', 'Success ratio']));
    expect(
      await page.$$eval('.chart .u-legend', (els) => els.some((e) => e.textContent?.includes('local'))),
    ).toBe(true);
    await shot('target-stream');
  }, 60_000);

  it('a sweep started from the page completes with per-region results', async () => {
    await page.click('nav a[href="/sweeps"]');
    await page.waitForSelector('form.start-sweep input[name="region"][value="local"]', { timeout: 30_000 });
    await page.type('form.start-sweep input[name="selector"]', 'testbed');
    await page.select('form.start-sweep select[name="probe"]', 'stream');
    await page.$eval('form.start-sweep input[name="duration"]', (e) => {
      (e as HTMLInputElement).value = '';
    });
    await page.type('form.start-sweep input[name="duration"]', '5');
    await page.click('form.start-sweep button[type="submit"]');
    await page.waitForFunction(() => /^\/sweeps\/.+/.test(location.pathname), { timeout: 30_000 });
    await page.waitForSelector('.sweep-detail tr[data-region="local"]', { timeout: 30_000 });
    await page.waitForSelector('.sweep-detail[data-state="done"]', { timeout: 120_000 });
    const id = decodeURIComponent((await page.evaluate(() => location.pathname)).split('/')[2] as string);
    const sweep = (await api(`/v1/sweeps/${id}`)).body as {
      state: string;
      perRegion: Record<string, { received: number; expected: number }>;
    };
    expect(sweep.state).toBe('done');
    expect(sweep.perRegion.local?.received).toBe(1);
    const verdict = await page.$eval('table.verdicts tbody', (e) => e.textContent ?? '');
    expect(verdict).toMatch(/testbed/);
    expect(verdict).toMatch(/ok|degraded|failed|probe-error/);
    // the readiness report is linked, and opens with the session cookie
    const reportHref = await page.$eval('.sweep-detail a[href*="/report?format=html"]', (a) =>
      a.getAttribute('href'),
    );
    const reportStatus = await page.evaluate(async (h) => (await fetch(h as string)).status, reportHref);
    expect(reportStatus).toBe(200);
    // the list below follows the sweep's events too
    await page.waitForFunction(
      (sid) => document.querySelector('table.sweep-list')?.textContent?.includes(`${sid}done`),
      { timeout: 30_000 },
      id,
    );
    await shot('sweeps');
  }, 180_000);

  it('the fleet view shows the agent and drains / resumes it', async () => {
    await page.click('nav a[href="/fleet"]');
    await page.waitForSelector('#agents tr[data-agent]', { timeout: 30_000 });
    await shot('fleet');
    const agentId = await page.$eval('#agents tr[data-agent]', (e) => e.getAttribute('data-agent') as string);
    await page.click(`#agents tr[data-agent="${agentId}"] button`);
    await page.waitForFunction(
      (id) => document.querySelector(`#agents tr[data-agent="${id}"]`)?.textContent?.includes('draining'),
      { timeout: 30_000 },
      agentId,
    );
    await page.click(`#agents tr[data-agent="${agentId}"] button`);
    await page.waitForFunction(
      (id) => document.querySelector(`#agents tr[data-agent="${id}"] button`)?.textContent === 'Drain',
      { timeout: 30_000 },
      agentId,
    );
    // Resumed: the row offers Drain again.
    expect(await page.$eval(`#agents tr[data-agent="${agentId}"] button`, (e) => e.textContent)).toBe(
      'Drain',
    );
  }, 60_000);

  it('a viewer sees no write controls, and a write with a viewer cookie gets 403', async () => {
    const ctx = await browser.createBrowserContext();
    try {
      const v = await ctx.newPage();
      await v.goto(`${controller.url}/signin`, { waitUntil: 'domcontentloaded' });
      await v.waitForSelector('input[name="token"]');
      await v.type('input[name="token"]', TOKENS.viewer);
      await v.click('button[type="submit"]');
      await v.waitForSelector('.grid', { timeout: 30_000 });
      await v.goto(`${controller.url}/alerts`, { waitUntil: 'domcontentloaded' });
      await v.waitForSelector('#silences, .alerts-view h2', { timeout: 30_000 });
      expect(await v.$$('.alerts-view button')).toHaveLength(0);
      await v.goto(`${controller.url}/sweeps`, { waitUntil: 'domcontentloaded' });
      await v.waitForSelector('.sweeps-view h2', { timeout: 30_000 });
      expect(await v.$('form.start-sweep')).toBeNull();
      await v.goto(`${controller.url}/fleet`, { waitUntil: 'domcontentloaded' });
      await v.waitForSelector('#agents tr[data-agent]', { timeout: 30_000 });
      expect(await v.$$('#agents button')).toHaveLength(0);
      const status = await v.evaluate(async () => {
        const res = await fetch('/v1/silences', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ matchers: [{ name: 'target', value: 'x' }], comment: 'viewer try' }),
        });
        return res.status;
      });
      expect(status).toBe(403);
    } finally {
      await ctx.close();
    }
  }, 90_000);

  it('killing the controller shows the disconnected banner; the page recovers when it is back', async () => {
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.feed-live', { timeout: 30_000 });
    // A second page on the target view: its report rows must not repeat after the feed resumes (the resume
    // replays missed reports; the view must not also re-read them).
    const rows = await browser.newPage();
    await rows.goto(`${controller.url}/target/testbed`, { waitUntil: 'domcontentloaded' });
    await rows.waitForSelector('table.reports tr[data-report]', { timeout: 60_000 });
    await rows.waitForSelector('.feed-live', { timeout: 30_000 });
    await controller.stop();
    await page.waitForSelector('.banner.down', { timeout: 30_000 });
    expect(await page.$eval('.banner.down', (e) => e.textContent)).toMatch(/Disconnected.*old/);
    expect(await page.$('.app.stale')).not.toBeNull();
    await shot('disconnected');
    controller = await startController({ config, logger });
    const back = Date.now();
    await page.waitForSelector('.feed-live', { timeout: 60_000 });
    expect(await page.$('.banner.down')).toBeNull();
    // the session survives the restart (signed, not stored), and live reports reach the board again
    await page.waitForFunction(
      (t) => Number(document.querySelector('a.cell[href^="/target/testbed"]')?.getAttribute('data-at')) > t,
      { timeout: 60_000 },
      back,
    );
    const before = await rows.$$eval('table.reports tr[data-report]', (trs) => trs.length);
    await rows.waitForFunction(
      (n) => document.querySelectorAll('table.reports tr[data-report]').length > n || n >= 20,
      { timeout: 60_000 },
      before,
    );
    const ids = await rows.$$eval('table.reports tr[data-report]', (trs) =>
      trs.map((tr) => tr.getAttribute('data-report')),
    );
    expect(new Set(ids).size).toBe(ids.length);
    await rows.close();
    expect(pageErrors).toEqual([]);
  }, 150_000);

  it('wall mode fits a 20 target x 8 region board in 1920x1080', async () => {
    // 19 more targets in 8 regions, reports published as agents would (stand-in figures)
    const nc = await connect({ servers: nats.url });
    try {
      const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
      const regions = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south', 'ap-east', 'sa-east'];
      const cdns = ['akamai', 'fastly', 'cloudfront'];
      let n = 0;
      for (let t = 0; t < 19; t++) {
        const id = `event-${String(t + 1).padStart(2, '0')}`;
        await controller.targets.put({
          id,
          url: `https://cdn.example.com/${id}/master.m3u8`,
          protocol: t % 4 === 3 ? 'dash' : 'hls',
          labels: { cdn: cdns[t % cdns.length] as string },
          expectations: {},
        });
        for (const region of regions) {
          n++;
          const end = Date.now() - 1000;
          const outcome =
            n % 23 === 0 ? 'failed' : n % 11 === 0 ? 'degraded' : n % 37 === 0 ? 'probe-error' : 'ok';
          await publisher.publish({
            id: `wall-${n}:0`,
            jobId: `wall-${n}`,
            seq: 0,
            target: { id, url: `https://cdn.example.com/${id}/master.m3u8`, protocol: 'hls' },
            region,
            agentId: `agent-${region}`,
            probe: 'browser',
            mode: 'check',
            startedAt: new Date(end - 20_000).toISOString(),
            endedAt: new Date(end).toISOString(),
            outcome,
            reasons: outcome === 'ok' ? [] : [`${outcome} (stand-in)`],
            metrics: { startup_ms: 600 + ((n * 37) % 2400), g2g_p50_ms: 4000 + ((n * 53) % 3000) },
            segments: [],
            errors: [],
            findings: [],
            version: 'e2e',
          });
        }
      }
    } finally {
      await nc.close();
    }
    // and 40 minutes of history for one of them: the target view's charts
    const nc2 = await connect({ servers: nats.url });
    try {
      const publisher = new JetStreamPublisher({ js: jetstream(nc2), names: names(), logger });
      const regions = ['eu-west', 'us-east', 'ap-south', 'sa-east'];
      const now = Date.now();
      let k = 0;
      for (let m = 40; m >= 1; m--) {
        for (const [ri, region] of regions.entries()) {
          k++;
          const end = now - m * 60_000;
          const slow = region === 'ap-south' && m < 12 && m > 5;
          await publisher.publish({
            id: `hist-${k}:0`,
            jobId: `hist-${k}`,
            seq: 0,
            target: { id: 'event-01', url: 'https://cdn.example.com/event-01/master.m3u8', protocol: 'hls' },
            region,
            agentId: `agent-${region}`,
            probe: 'browser',
            mode: 'check',
            startedAt: new Date(end - 20_000).toISOString(),
            endedAt: new Date(end).toISOString(),
            outcome: slow ? 'degraded' : 'ok',
            reasons: slow ? ['startup above expectation'] : [],
            metrics: {
              startup_ms: (slow ? 3800 : 700) + ri * 150 + ((m * 97) % 300),
              g2g_p50_ms: 4200 + ri * 300 + ((m * 131) % 500),
              pdt_latency_p50_ms: 4100 + ri * 300 + ((m * 71) % 400),
              rebuffer_ratio: slow ? 0.04 : 0.002 * ri,
              errors_http: slow && m % 2 ? 1 : 0,
            },
            startup: {
              manifest_ms: 90,
              media_playlist_ms: 180,
              first_segment_ms: 420,
              first_buffered_ms: 520,
              first_frame_ms: 640,
            },
            segments: [],
            errors: [],
            findings: [],
            version: 'e2e',
          });
        }
      }
    } finally {
      await nc2.close();
    }
    await page.goto(`${controller.url}/target/event-01`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.chart canvas', { timeout: 30_000 });
    await page.waitForSelector('table.reports tbody tr', { timeout: 30_000 });
    await shot('target');

    await page.setViewport({ width: 1920, height: 1080 });
    await page.goto(`${controller.url}/?wall=1`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => document.querySelectorAll('.grid .rowhead').length >= 20, {
      timeout: 30_000,
    });
    await page.waitForFunction(() => document.querySelectorAll('.grid .colhead').length >= 8, {
      timeout: 30_000,
    });
    const size = await page.evaluate(() => ({
      w: document.documentElement.scrollWidth,
      h: document.documentElement.scrollHeight,
      cells: document.querySelectorAll('a.cell').length,
    }));
    expect(size.cells).toBeGreaterThanOrEqual(160);
    expect(size.w).toBeLessThanOrEqual(1920);
    expect(size.h).toBeLessThanOrEqual(1080);
    await shot('wall');
    await page.setViewport({ width: 1600, height: 1000 });
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => document.querySelectorAll('.grid .rowhead').length >= 20, {
      timeout: 30_000,
    });
    await shot('board');
  }, 90_000);
});

/**
 * The controller consumes injector heartbeats and the command center's target view says where
 * glass-to-glass starts: "glass = injector X at site Y" for reports read from a clock strip
 * (g2g_injector_id). Real nats-server, controller and Chromium; the injector's heartbeat and the report are
 * published as an injector and an agent would (the injector itself is exercised in test/inject-*.e2e).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../agent/publisher.js';
import { type Controller, startController } from '../controller/index.js';
import { resolveChromiumPath } from '../probes/browser/index.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { InjectorHeartbeat } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { makeReport, waitFor } from './helpers/fleet.js';
import { freePort, startNats } from './helpers/procs.js';

const TOKEN = 'g2g-viewer-token-0123456789';
const IMG = join(import.meta.dirname, '..', 'docs', 'img');
const logger = createLogger('test', 'warn');

describe('injectors in the API and the target view', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let browser: Browser;
  let profile: string;

  beforeAll(async () => {
    mkdirSync(IMG, { recursive: true });
    nats = await startNats();
    const config = loadConfig({
      env: { LIVEPROBE_TOKENS: `wall:viewer:${TOKEN}` },
      overrides: { 'nats.url': nats.url, 'controller.port': await freePort() },
    });
    controller = await startController({ config, logger });
    await controller.targets.put({
      id: 'ch1',
      name: 'Channel 1',
      url: 'https://cdn.example.com/ch1/master.m3u8',
      protocol: 'hls',
      labels: {},
      expectations: {},
    });
    nc = await connect({ servers: nats.url });
    profile = mkdtempSync(join(tmpdir(), 'liveprobe-g2g-ui-'));
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
      defaultViewport: { width: 1400, height: 900 },
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await nc?.close();
    await controller?.stop();
    await nats?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  }, 60_000);

  it('shows "glass = injector X at site Y" next to a stamp-measured report', async () => {
    const at = new Date().toISOString();
    nc.publish(
      names().injector(7),
      JSON.stringify(
        InjectorHeartbeat.parse({
          id: 7,
          name: 'studio-a',
          site: 'Venue Paris',
          version: 'test',
          startedAt: new Date(Date.now() - 3_600_000).toISOString(),
          at,
          uptimeS: 3600,
          mode: 'paint',
          placement: 'bottom-left-0.5',
          input: 'srt://0.0.0.0:9000',
          output: 'srt://packager:9001',
          framesPainted: 108_000,
          framesPassed: 0,
          addedDelayMs: 21,
          clockOffsetMs: -3,
          appliedOffsetMs: -3,
          clockSource: 'controller',
          restarts: 0,
          decodeErrors: 0,
        }),
      ),
    );
    await waitFor('the injector heard', async () => {
      const r = await fetch(`${controller.url}/v1/injectors`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      return ((await r.json()) as unknown[]).length === 1;
    });
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    const report = makeReport({ jobId: 'g2g-1', region: 'eu-west', targetId: 'ch1' });
    await publisher.publish({
      ...report,
      target: { ...report.target, url: 'https://cdn.example.com/ch1/master.m3u8' },
      probe: 'browser',
      metrics: { startup_ms: 900, g2g_p50_ms: 4630 },
      g2g_method: 'stamp',
      g2g_injector_id: 7,
    });
    // and one from a stream without a strip: no glass line
    await publisher.publish(makeReport({ jobId: 'g2g-2', region: 'us-east', targetId: 'ch1' }));

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${controller.url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('form[aria-label="sign in"]');
    await page.type('input[name="token"]', TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => !!document.querySelector('.grid'), { timeout: 30_000 });
    await page.goto(`${controller.url}/target/ch1`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('[data-glass="7"]', { timeout: 30_000 });
    const glass = await page.$eval('[data-glass="7"]', (e) => e.textContent);
    expect(glass).toBe('glass = injector studio-a (#7) at Venue Paris');
    const title = await page.$eval('[data-glass="7"]', (e) => e.getAttribute('title'));
    expect(title).toMatch(/painted 108000, passed 0 frames; added delay 21 ms; clock offset -3 ms/);
    expect(await page.$eval('.glass-sources', (e) => e.textContent)).toContain('Venue Paris');
    expect(await page.$$eval('table.reports tbody tr', (rows) => rows.length)).toBe(2);
    expect(await page.$$eval('[data-glass]', (els) => els.length)).toBe(1);
    // the reports table, with where glass-to-glass starts
    await page.evaluate(() => document.querySelector('.glass-sources')?.scrollIntoView());
    await page.screenshot({ path: join(IMG, 'target-glass.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sweep } from '../../shared/api.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { json, lp } from './cli.js';

// The pre-event routine against the real stack (nats-server, controller, agent with real probers, ffmpeg
// testbed), driven by the CLI as an operator would: fleet file, GO on the healthy stream, NO-GO under a
// fault, WARN on a regression against the baseline, unknown region refused, the HTML report in Chromium.
const CHROMIUM = process.env.LIVEPROBE_CHROMIUM ?? '/usr/lib/chromium/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/img/readiness-report.png', import.meta.url));

describe('readiness: fleet file, verdicts and report on the live testbed', () => {
  let stack: Stack;
  let url: string;
  let dir: string;
  const run = (args: string[]) => lp([...args, '--url', url]);

  beforeAll(async () => {
    stack = await startStack({ ladder: 'single' });
    url = stack.controller.url;
    dir = mkdtempSync(join(tmpdir(), 'ready-stack-'));
    const stream = stack.testbed.streams[0];
    // Two names for the one test stream: strict default expectations, and relaxed ones so that only the
    // baseline comparison can speak.
    writeFileSync(
      join(dir, 'fleet.yaml'),
      [
        'targets:',
        '  - id: tb',
        `    url: ${stream?.url}`,
        '    protocol: hls',
        '    labels: { cdn: origin, event: rehearsal }',
        '  - id: tb-relaxed',
        `    url: ${stream?.url}`,
        '    protocol: hls',
        '    labels: { cdn: origin-relaxed, event: rehearsal }',
        '    expectations: { startup_ms: 60000, g2g_ms: 60000, latency_ms: 60000, rebuffer_ratio: 1, error_rate: 1 }',
        '',
      ].join('\n'),
    );
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('applies the fleet file idempotently and diffs an edit made through the API', async () => {
    const first = await run(['apply', '-f', join(dir, 'fleet.yaml')]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('+ target tb (create)');
    const second = await run(['apply', '-f', join(dir, 'fleet.yaml')]);
    expect(second.stdout).toContain('No changes');
    const t = (await (await fetch(`${url}/v1/targets/tb`)).json()) as Record<string, unknown>;
    const put = await fetch(`${url}/v1/targets/tb`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...t, id: undefined, labels: { cdn: 'edited' } }),
    });
    expect(put.status).toBe(200);
    const diff = await run(['diff', '-f', join(dir, 'fleet.yaml')]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain('~ target tb (labels)');
    expect((await run(['apply', '-f', join(dir, 'fleet.yaml')])).code).toBe(0);
  }, 60_000);

  it('says GO on the healthy stream (exit 0) and refuses an unknown region naming the known ones (exit 3)', async () => {
    const go = await run([
      'sweep',
      'run',
      '--target',
      'tb',
      '--region',
      'local',
      '--probe',
      'browser',
      '--duration',
      '6',
      '--follow',
    ]);
    expect(go.code, `${go.stdout}\n${go.stderr}`).toBe(0);
    expect(go.stdout).toMatch(/^GO\s+sweep/m);
    const summary = (await (await fetch(`${url}/v1/summary?groupBy=label:cdn`)).json()) as {
      groups: { key: string }[];
    };
    expect(summary.groups.map((g) => g.key)).toContain('origin');

    const nowhere = await run(['sweep', 'run', '--target', 'tb', '--region', 'nowhere', '--follow']);
    expect(nowhere.code).toBe(3);
    expect(nowhere.stderr).toContain('known regions: local');
  }, 120_000);

  it('says NO-GO with the reason when the origin answers 404 (exit 2)', async () => {
    const stream = stack.testbed.streams[0];
    const fault = stack.testbed.faults.inject({
      stream: stream?.id,
      type: 'status',
      code: 404,
      on: 'segments',
    });
    try {
      const r = await run([
        'sweep',
        'run',
        '--target',
        'tb',
        '--region',
        'local',
        '--probe',
        'stream',
        '--duration',
        '6',
        '--follow',
        '-o',
        'json',
      ]);
      expect(
        r.code,
        JSON.stringify(json<Sweep>(r).reasons) +
          JSON.stringify(json<Sweep>(r).reports.map((x) => [x.outcome, x.reasons, x.metrics])),
      ).toBe(2);
      const s = json<Sweep>(r);
      expect(s.verdict).toBe('no-go');
      expect(s.reasons?.join('\n')).toMatch(/tb @ local: .*(failed|404)/);
    } finally {
      stack.testbed.faults.remove(fault.id);
    }
  }, 120_000);

  it('says WARN when startup regressed against the marked baseline, and renders the report', async () => {
    const base = await run([
      'sweep',
      'run',
      '--target',
      'tb-relaxed',
      '--region',
      'local',
      '--probe',
      'browser',
      '--duration',
      '6',
      '--follow',
      '-o',
      'json',
    ]);
    expect(base.code, base.stderr).toBe(0);
    const baseId = json<Sweep>(base).id;
    expect((await run(['sweep', 'baseline', baseId])).code).toBe(0);

    const stream = stack.testbed.streams[0];
    // Every request 1 s slower: startup grows by seconds, well within the relaxed expectations.
    const fault = stack.testbed.faults.inject({ stream: stream?.id, type: 'delay', ms: 1000, on: 'all' });
    let sweep: Sweep;
    try {
      const r = await run([
        'sweep',
        'run',
        '--target',
        'tb-relaxed',
        '--region',
        'local',
        '--probe',
        'browser',
        '--duration',
        '10',
        '--name',
        'pre-show check',
        '--event',
        'rehearsal',
        '--follow',
        '-o',
        'json',
      ]);
      expect(
        r.code,
        JSON.stringify(json<Sweep>(r).reasons) +
          JSON.stringify(json<Sweep>(r).reports.map((x) => [x.outcome, x.reasons, x.metrics])),
      ).toBe(1);
      sweep = json<Sweep>(r);
    } finally {
      stack.testbed.faults.remove(fault.id);
    }
    expect(sweep.verdict).toBe('warn');
    expect(sweep.cells?.[0]?.baselineSweepId).toBe(baseId);
    expect(sweep.reasons?.join('\n')).toMatch(/startup .* regressed from .* in the baseline/);

    const md = await run(['sweep', 'report', sweep.id]);
    expect(md.stdout).toContain('# Readiness: pre-show check — WARN');
    expect(md.stdout).toContain('| tb-relaxed | local | WARN |');

    // The HTML report, as a launch manager opens it: rendered in Chromium, screenshot kept for the docs.
    const html = await fetch(`${url}/v1/sweeps/${sweep.id}/report?format=html&pivot=cdn`);
    expect(html.headers.get('content-type')).toContain('text/html');
    const userDataDir = mkdtempSync(join(tmpdir(), 'ready-chromium-'));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      pipe: true,
      userDataDir,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1100, height: 900 });
      const res = await page.goto(`${url}/v1/sweeps/${sweep.id}/report?format=html&pivot=cdn`, {
        waitUntil: 'load',
      });
      expect(res?.status()).toBe(200);
      expect(await page.$eval('h1', (h) => h.textContent)).toBe('Readiness: pre-show check');
      expect(
        await page.$eval('.hero .v', (e) => [e.textContent, getComputedStyle(e).backgroundColor]),
      ).toEqual(['WARN', 'rgb(154, 103, 0)']);
      expect(await page.$$eval('h2', (hs) => hs.map((h) => h.textContent))).toContain('By cdn');
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    }
  }, 240_000);
});

/**
 * npm run bench:ui — the command-center page under a big fleet's live feed, in real Chromium:
 * 50 targets x 10 regions on the board (500 cells), simulated reports published to JetStream at 200/s,
 * ingested by a real controller process and pushed to the page over /v1/events.
 *  - report_to_dom_p95_ms: from a report's publish time (its endedAt) to the moment its cell's DOM changed,
 *    observed in the page by a MutationObserver (same machine, same clock).
 *  - main_thread_busy_pct: the page's main-thread task time over wall time while the feed runs (Chromium's
 *    Performance.getMetrics TaskDuration).
 *  - bundle_kb_gz: JS + CSS of the page, gzipped.
 * Env: BENCH_UI_S (measured seconds, default 30), BENCH_UI_RATE (reports/s, default 200).
 * Last line: cells=<n> report_to_dom_p95_ms=<n> main_thread_busy_pct=<n> bundle_kb_gz=<n>
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import puppeteer from 'puppeteer-core';
import { stopChild } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';
import { resolveChromiumPath } from '../probes/browser/index.js';
import { names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import { benchNats, percentile } from './lib.js';
import { realisticReport } from './report-fixture.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const UI = fileURLToPath(new URL('../ui/', import.meta.url));
const TARGETS = 50;
const REGIONS = Array.from({ length: 10 }, (_, i) => `region-${String(i).padStart(2, '0')}`);
const SECONDS = Number(process.env.BENCH_UI_S ?? 30);
const RATE = Number(process.env.BENCH_UI_RATE ?? 200);
const CDNS = ['akamai', 'fastly', 'cloudfront'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startController(natsUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'controller', '--port', String(port)], {
    env: { ...process.env, NATS_URL: natsUrl, LIVEPROBE_LOG_LEVEL: 'error', LIVEPROBE_RULES_FILE: 'none' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not up yet
    }
    if (Date.now() > until || child.exitCode !== null) throw new Error('controller did not start');
    await sleep(200);
  }
}

/** A report for cell i (target x region), ended now: its endedAt is the publish time the page measures from. */
function cellReport(seq: number, cell: number) {
  const target = `ch${String(cell % TARGETS).padStart(2, '0')}`;
  const region = REGIONS[Math.floor(cell / TARGETS) % REGIONS.length] as string;
  const r = realisticReport(seq, TARGETS);
  return {
    ...r,
    id: `ui-${seq}:0`,
    jobId: `ui-${seq}`,
    sweepId: undefined,
    target: { ...r.target, id: target, url: `https://cdn.example.com/live/${target}/master.m3u8` },
    region,
    agentId: `agent-${region}`,
    outcome: seq % 97 === 0 ? ('failed' as const) : seq % 13 === 0 ? ('degraded' as const) : ('ok' as const),
    endedAt: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const bundleKb = ['app.js', 'app.css'].reduce(
    (sum, f) => sum + gzipSync(readFileSync(join(UI, f))).length / 1024,
    0,
  );
  const nats = await benchNats();
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  let controller: ChildProcess | undefined;
  const profile = mkdtempSync(join(tmpdir(), 'lp-bench-ui-'));
  let browser: puppeteer.Browser | undefined;
  try {
    controller = await startController(nats.url, port);
    for (let t = 0; t < TARGETS; t++) {
      const id = `ch${String(t).padStart(2, '0')}`;
      const res = await fetch(`${url}/v1/targets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id,
          url: `https://cdn.example.com/live/${id}/master.m3u8`,
          protocol: 'hls',
          labels: { cdn: CDNS[t % CDNS.length] as string },
        }),
      });
      if (res.status !== 201) throw new Error(`target ${id}: ${res.status} ${await res.text()}`);
    }
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const n = names();
    let seq = 0;
    const publish = async (count: number, firstCell: number) => {
      const batch = [];
      for (let k = 0; k < count; k++) {
        const r = cellReport(++seq, (firstCell + k) % (TARGETS * REGIONS.length));
        batch.push(js.publish(n.results(r.region, r.agentId, r.target.id), encodeJson(r), { msgID: r.id }));
      }
      await Promise.all(batch);
    };
    // every cell has data before the page opens
    await publish(TARGETS * REGIONS.length, 0);

    browser = await puppeteer.launch({
      executablePath: resolveChromiumPath(process.env.LIVEPROBE_CHROMIUM),
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
        '--window-size=1920,1080',
      ],
      defaultViewport: { width: 1920, height: 1080 },
    });
    const page = await browser.newPage();
    await page.goto(`${url}/?wall=1`, { waitUntil: 'domcontentloaded' });
    // page code as strings: this file is compiled for Node (no DOM types)
    await page.waitForFunction(
      `document.querySelectorAll('a.cell[data-state="ok"], a.cell[data-state="degraded"], a.cell[data-state="failed"]').length >= ${TARGETS * REGIONS.length}`,
      { timeout: 60_000 },
    );
    await page.waitForSelector('.feed-live', { timeout: 30_000 });
    // a cell's data-at is its last report's endedAt (ms): the DOM change it marks is the update measured
    await page.evaluate(`
      window.__lat = [];
      new MutationObserver((muts) => {
        const now = Date.now();
        for (const m of muts) {
          const v = m.target.getAttribute('data-at');
          if (v) window.__lat.push(now - Number(v));
        }
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-at'] });
    `);
    const cells = (await page.evaluate(`document.querySelectorAll('a.cell').length`)) as number;

    // steady feed: RATE reports/s in 20 ticks a second, cells in rotation
    const m0 = await page.metrics();
    const t0 = Date.now();
    const perTick = RATE / 20;
    let acc = 0;
    let cell = 0;
    while (Date.now() - t0 < SECONDS * 1000) {
      const tick = Date.now();
      acc += perTick;
      const k = Math.floor(acc);
      acc -= k;
      await publish(k, cell);
      cell += k;
      await sleep(Math.max(0, 50 - (Date.now() - tick)));
    }
    await sleep(1500);
    const m1 = await page.metrics();
    const wallS = (Date.now() - t0) / 1000;
    const share = (k: 'TaskDuration' | 'ScriptDuration' | 'LayoutDuration' | 'RecalcStyleDuration') =>
      (100 * ((m1[k] ?? 0) - (m0[k] ?? 0))) / wallS;
    const busyPct = share('TaskDuration');
    console.log(
      `main thread: script ${share('ScriptDuration').toFixed(1)}%, style ${share('RecalcStyleDuration').toFixed(1)}%, layout ${share('LayoutDuration').toFixed(1)}% of wall time (load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)})`,
    );
    const lat = ((await page.evaluate('window.__lat')) as number[]).sort((a, b) => a - b);
    await nc.close();
    console.log(
      `published ${seq - TARGETS * REGIONS.length} reports in ${wallS.toFixed(1)} s; ${lat.length} cell updates observed; p50 ${percentile(lat, 0.5)} ms, p99 ${percentile(lat, 0.99)} ms`,
    );
    console.log(
      `cells=${cells} report_to_dom_p95_ms=${Math.round(percentile(lat, 0.95))} main_thread_busy_pct=${busyPct.toFixed(1)} bundle_kb_gz=${bundleKb.toFixed(1)}`,
    );
  } finally {
    await browser?.close().catch(() => undefined);
    if (controller) await stopChild(controller);
    await nats.cleanup();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

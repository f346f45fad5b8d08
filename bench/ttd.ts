/**
 * npm run bench:ttd — time to detect: from a fault's injection (the testbed's truth log) to the page
 * (the webhook receipt at a local receiver, HMAC checked), through the whole product:
 *
 *   testbed (full ladder, TD = 2 s) -> agent process (real stream probes in watch jobs reporting every
 *   second; real Chromium checks for g2g) -> JetStream -> controller process (ingest, windows, alerting)
 *   -> signed webhook -> this process
 *
 *   node dist/bench/ttd.js [--runs 5] [--warmup 30] [--page-timeout 60] [--resolve-timeout 180] [--check 8] [--keep]
 *
 * --keep keeps the temp dir with the controller's and agent's logs (kept anyway when the bench fails).
 *
 * Faults, each on its own target, `runs` times each with a random 0-2 s phase before every injection; the
 * four stream faults run side by side first, then g2g (Chromium's CPU would otherwise blur their timing):
 *   stale    hls-ts 360p media playlist frozen (stale)           rule: playlist-stale findings > 0 in 1m
 *   http404  hls-ts 240p segments answer 404 (status 404)        rule: HTTP errors > 0 in 1m
 *   slow     hls-ts 144p segments served at 40 % of real time    rule: segment-slow findings > 0 in 1m
 *            (throttle: bytes/s = its segment size / 2.5 TD)
 *   master   hls-fmp4 master playlist answers 500                rule: manifest-unavailable findings > 0 in 1m
 *            (status 500, on: master; its renditions stay healthy; the target is the master URL)
 *   g2g      hls-fmp4 published 3 s late (publish-delay)         rule: g2g p95 > the target's g2g_ms in 1m
 * Every rule has `for: 0`, quorum 1 region. The watches run `warmup` seconds before the first injection. The stream targets are watched continuously (/v1/watches,
 * intervalS 1); g2g needs a player that *starts* while the delay is active (a running player keeps its
 * delay), so the fmp4 target gets back-to-back browser checks (/v1/sweeps) all along, and its g2g_ms
 * expectation is set from baseline checks (midpoint of their range + 1.5 s).
 *
 * A run: inject -> wait for the page -> remove the fault -> wait for the resolve notice -> count the
 * notices of that alert (exactly one page and one resolve expected). The table also shows, from the reports
 * the page cites (GET /v1/results), when the probe saw the problem ("finding ms", the stream faults: the
 * first citing report's finding) and when the report ended ("report ms": that report, or for g2g the last
 * cited one, which tipped the percentile), both after injection. A rule over a 1 m window resolves
 * 60-75 s after the last bad report, so a run lasts about 1.5 min.
 *
 * Last line: ttd_p95_ms stale=<n> http404=<n> slow=<n> master=<n> g2g=<n>   (nearest-rank p95 over the runs;
 * a run that never paged counts as the page timeout; a run whose rule was still active without any fault after
 * --resolve-timeout, i.e. the stream itself tripping it such as a testbed starved by load, is skipped, shown as
 * such and left out of the percentiles)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';
import { verifySignature } from '../controller/alerting/notifiers/webhook.js';
import { createLogger } from '../shared/log.js';
import { startTestbed, type Testbed } from '../testbed/index.js';
import { arg, sleep } from './browser-lib.js';
import { benchNats, percentile, printTable } from './lib.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const RUNS = Number(arg('runs', '5'));
const PAGE_TIMEOUT_MS = Number(arg('page-timeout', '60')) * 1000;
const RESOLVE_TIMEOUT_MS = Number(arg('resolve-timeout', '180')) * 1000;
const CHECK_S = Number(arg('check', '8'));
const WARMUP_S = Number(arg('warmup', '30'));
const SECRET = 'bench-ttd-hmac-secret-0123456789';
const REGION = 'local';
const KEEP = process.argv.includes('--keep');

interface Notice {
  at: number;
  /** Report ids the alert's evidence names (breaching regions). */
  samples: string[];
  fingerprint: string;
  status: string;
  repeat: boolean;
  alertname: string;
  target: string;
}

interface FaultCase {
  name: 'stale' | 'http404' | 'slow' | 'master' | 'g2g';
  target: string;
  fault: Record<string, unknown>;
  pageTimeoutMs: number;
}

interface RunResult {
  fault: string;
  run: number;
  injectedAt: number;
  ttdMs?: number;
  /** Injection -> the probe's finding (stale, http404), from the report the page names. */
  detectMs?: number;
  /** Injection -> end of that report's interval (when the agent published it). */
  reportMs?: number;
  resolveMs?: number;
  pages: number;
  resolves: number;
  unsigned: number;
  /** Not run: the rule was still active (from the stream itself, e.g. a testbed starved by load). */
  skipped?: boolean;
}

/** A local receiver: every webhook notice, with its arrival time and whether its HMAC checks out. */
async function startReceiver() {
  const notices: Notice[] = [];
  let unsigned = 0;
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const at = Date.now();
      if (!verifySignature(SECRET, req.headers['x-liveprobe-signature'] as string | undefined, raw, at))
        unsigned++;
      const body = JSON.parse(raw) as {
        alerts: {
          fingerprint: string;
          status: string;
          repeat: boolean;
          labels: Record<string, string>;
          evidence: { regions: { sample_reports: string[] }[] };
        }[];
      };
      for (const a of body.alerts)
        notices.push({
          at,
          samples: a.evidence.regions.flatMap((r) => r.sample_reports),
          fingerprint: a.fingerprint,
          status: a.status,
          repeat: a.repeat,
          alertname: a.labels.alertname ?? '',
          target: a.labels.target ?? '',
        });
      res.writeHead(200).end();
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    notices,
    unsigned: () => unsigned,
    /** Resolves with the first notice matching `pred` (already received or arriving), or undefined at the deadline. */
    wait(pred: (n: Notice) => boolean, timeoutMs: number): Promise<Notice | undefined> {
      return new Promise((resolve) => {
        const check = () => {
          const hit = notices.find(pred);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          resolve(undefined);
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

function rulesYaml(hookUrl: string): string {
  const rule = (id: string, target: string, body: string) => `
  - id: ${id}
    targets: [${target}]
${body}
    window: 1m
    quorum: { regions: 1 }
    for: 0s
    keep_firing_for: 0s
    severity: critical
    annotations: { summary: '{{target}}: ${id} ({{value}})' }`;
  return `evaluation_interval: 1s
route:
  receivers: [hook]
  group_by: [target]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: hook
    kind: webhook
    url: ${hookUrl}
    secret: ${SECRET}
rules:${rule('stale', 'ts-360p', '    finding: playlist-stale\n    agg: count\n    threshold: 0')}${rule(
    'http404',
    'ts-240p',
    '    metric: errors_http\n    agg: count\n    threshold: 0',
  )}${rule('slow', 'ts-144p', '    finding: segment-slow\n    agg: count\n    threshold: 0')}${rule(
    'master',
    'fmp4-master',
    '    finding: manifest-unavailable\n    agg: count\n    threshold: 0',
  )}${rule(
    'g2g',
    'fmp4',
    '    metric: g2g_p50_ms\n    agg: p95\n    probe: browser\n    threshold: 15000\n    threshold_from: g2g_ms',
  )}
`;
}

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Set when the bench winds down: pending waits give up at once. */
let stopping = false;

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (stopping) throw new Error(`stopped while waiting for ${what}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function spawnLiveprobe(args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [MAIN, ...args], {
    // The testbed is on loopback, which the egress policy refuses by default.
    env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'info', LIVEPROBE_EGRESS_ALLOW: '127.0.0.0/8', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return child;
}

/** One browser check of the g2g target; its g2g_p50_ms. */
async function browserCheck(base: string): Promise<number | undefined> {
  const { id } = await api<{ id: string }>(base, 'POST', '/v1/sweeps', {
    targets: ['fmp4'],
    regions: [REGION],
    probe: 'browser',
    durationS: CHECK_S,
  });
  const sweep = await waitFor(
    'a browser check',
    async () => {
      const s = await api<{ state: string; reports: { metrics: { g2g_p50_ms?: number } }[] }>(
        base,
        'GET',
        `/v1/sweeps/${id}`,
      );
      return s.state === 'done' && s;
    },
    CHECK_S * 1000 + 120_000,
  );
  return sweep.reports[0]?.metrics.g2g_p50_ms;
}

/** `share` x the byte rate the newest segment of a media playlist needs to arrive in real time (bytes/s). */
async function segmentBytesPerSecond(playlistUrl: string, segmentS: number, share: number): Promise<number> {
  const text = await (await fetch(playlistUrl)).text();
  const uri = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .pop();
  if (!uri) throw new Error(`no segment in ${playlistUrl}`);
  const bytes = (await (await fetch(new URL(uri, playlistUrl))).arrayBuffer()).byteLength;
  return Math.max(100, Math.round((share * bytes) / segmentS));
}

async function main(): Promise<void> {
  const logger = createLogger('bench-ttd', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn', 2);
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-ttd-'));
  const logFile = join(dir, 'processes.log');
  const nats = await benchNats();
  const receiver = await startReceiver();
  const children: ChildProcess[] = [];
  let tb: Testbed | undefined;
  let checking = true;
  let checker: Promise<void> = Promise.resolve();
  const baseline: number[] = [];
  let g2gMs = 0;
  try {
    tb = await startTestbed({ ladder: 'full', segmentS: 2, logger });
    const ts = tb.streams.find((s) => s.id === 'hls-ts');
    const fmp4 = tb.streams.find((s) => s.id === 'hls-fmp4');
    if (!ts || !fmp4) throw new Error('testbed without hls-ts / hls-fmp4');
    const rendition = (name: string) => ts.renditions.find((r) => r.name === name)?.url as string;

    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, rulesYaml(receiver.url));
    const port = await freeLoopbackPort();
    const base = `http://127.0.0.1:${port}`;
    children.push(
      spawnLiveprobe(
        ['controller', '--port', String(port)],
        { NATS_URL: nats.url, LIVEPROBE_RULES_FILE: rulesFile },
        logFile,
      ),
    );
    await waitFor('the controller', async () => (await fetch(`${base}/healthz`)).ok, 30_000);
    children.push(
      spawnLiveprobe(
        ['agent', '--region', REGION, '--id', 'bench-agent'],
        { NATS_URL: nats.url, LIVEPROBE_SPOOL_DIR: join(dir, 'spool'), LIVEPROBE_CAPACITY_BROWSER: '1' },
        logFile,
      ),
    );
    await waitFor(
      'the agent',
      async () =>
        (await api<{ status: string }[]>(base, 'GET', '/v1/agents')).some((a) => a.status === 'online'),
      60_000,
    );

    const targets = {
      'ts-360p': rendition('360p'),
      'ts-240p': rendition('240p'),
      'ts-144p': rendition('144p'),
      'fmp4-master': fmp4.url,
    };
    for (const [id, url] of Object.entries(targets)) {
      await api(base, 'POST', '/v1/targets', { id, url, protocol: 'hls' });
      await api(base, 'POST', '/v1/watches', {
        id: `w-${id}`,
        target: id,
        regions: [REGION],
        probe: 'stream',
        intervalS: 1,
        chunkS: 3600,
      });
    }
    await api(base, 'POST', '/v1/targets', { id: 'fmp4', url: fmp4.url, protocol: 'hls' });
    await waitFor(
      'reports from every watched target',
      async () => {
        const s = await api<{ groups: { key: string }[] }>(
          base,
          'GET',
          '/v1/summary?window=1m&groupBy=target',
        );
        return Object.keys(targets).every((t) => s.groups.some((g) => g.key === t));
      },
      60_000,
    );

    const testbed = tb;
    const injectedAt = (id: string, event: 'inject' | 'remove') =>
      testbed.faults.log().find((e) => e.id === id && e.event === event)?.atMs as number;
    const activeAlerts = async (rule: string) =>
      (await api<unknown[]>(base, 'GET', `/v1/alerts?rule=${rule}`)).length +
      (await api<unknown[]>(base, 'GET', `/v1/alerts?rule=${rule}&state=pending`)).length;

    // Served below real time: 40 % of the rate the 144p segments need (their size over their duration).
    const slowBps = await segmentBytesPerSecond(rendition('144p'), tb.segmentS, 0.4);
    process.stderr.write(`slow: 144p segments throttled to ${slowBps} bytes/s (40 % of real time)\n`);
    const cases: FaultCase[] = [
      {
        name: 'stale',
        target: 'ts-360p',
        fault: { stream: 'hls-ts', rendition: '360p', type: 'stale' },
        pageTimeoutMs: PAGE_TIMEOUT_MS,
      },
      {
        name: 'http404',
        target: 'ts-240p',
        fault: { stream: 'hls-ts', rendition: '240p', type: 'status', code: 404, rate: 1, on: 'segments' },
        pageTimeoutMs: PAGE_TIMEOUT_MS,
      },
      {
        name: 'slow',
        target: 'ts-144p',
        fault: {
          stream: 'hls-ts',
          rendition: '144p',
          type: 'throttle',
          bytesPerSecond: slowBps,
          on: 'segments',
        },
        pageTimeoutMs: PAGE_TIMEOUT_MS,
      },
      {
        name: 'master',
        target: 'fmp4-master',
        fault: { stream: 'hls-fmp4', type: 'status', code: 500, on: 'master' },
        pageTimeoutMs: PAGE_TIMEOUT_MS,
      },
      {
        name: 'g2g',
        target: 'fmp4',
        fault: { stream: 'hls-fmp4', type: 'publish-delay', ms: 3000 },
        pageTimeoutMs: Math.max(PAGE_TIMEOUT_MS, 120_000),
      },
    ];

    /**
     * From the reports the page cites (ending after the injection): for stale / http404 the first one, with
     * the time its finding was seen; for slow / g2g the last one (the report that tipped the percentile).
     */
    const pageReport = async (page: Notice, target: string, since: number) => {
      const { reports } = await api<{
        reports: { id: string; endedAt: string; findings: { code: string; at: number }[] }[];
      }>(
        base,
        'GET',
        `/v1/results?target=${target}&since=${new Date(since - 5000).toISOString()}&limit=1000`,
      );
      const cited = reports
        .filter((r) => page.samples.includes(r.id) && Date.parse(r.endedAt) >= since)
        .sort((a, b) => a.endedAt.localeCompare(b.endedAt));
      const byFinding = page.alertname !== 'g2g';
      const pick = byFinding ? cited[0] : cited[cited.length - 1];
      if (!pick) return undefined;
      const codes = {
        stale: ['playlist-stale'],
        http404: ['http-status'],
        slow: ['segment-slow'],
        master: ['manifest-unavailable'],
      }[page.alertname] ?? [''];
      const f = byFinding ? pick.findings.filter((x) => codes.includes(x.code)).map((x) => x.at) : [];
      return { endedAt: Date.parse(pick.endedAt), findingAt: f.length ? Math.min(...f) : undefined };
    };
    const results: RunResult[] = [];
    const runCase = async (c: FaultCase) => {
      let removedAt = 0;
      for (let run = 1; run <= RUNS; run++) {
        // The previous run's bad reports out of the 1 m window (60 s + one 15 s bucket: a percentile rule
        // may have resolved while some are still in it), nothing of this rule active, then a random phase.
        await sleep(removedAt + 75_000 - Date.now());
        try {
          await waitFor(
            `${c.name}: no active alert`,
            async () => (await activeAlerts(c.name)) === 0,
            RESOLVE_TIMEOUT_MS,
          );
        } catch (err) {
          if (stopping) throw err;
          // Its own rule keeps firing without a fault: nothing to time. Counted apart, the bench goes on.
          process.stderr.write(`${c.name} run ${run}: skipped, its alert is active without a fault\n`);
          results.push({
            fault: c.name,
            run,
            injectedAt: Date.now(),
            pages: 0,
            resolves: 0,
            unsigned: receiver.unsigned(),
            skipped: true,
          });
          removedAt = Date.now();
          continue;
        }
        await sleep(Math.random() * 2000);
        const rec = testbed.faults.inject(c.fault, 'bench');
        const t0 = injectedAt(rec.id, 'inject');
        const page = await receiver.wait(
          (n) => n.alertname === c.name && n.target === c.target && n.status === 'firing' && n.at >= t0,
          c.pageTimeoutMs,
        );
        testbed.faults.remove(rec.id);
        const t1 = injectedAt(rec.id, 'remove');
        removedAt = t1;
        const resolved = page
          ? await receiver.wait(
              (n) => n.fingerprint === page.fingerprint && n.status === 'resolved' && n.at >= page.at,
              RESOLVE_TIMEOUT_MS,
            )
          : undefined;
        await sleep(3000);
        const mine = receiver.notices.filter(
          (n) => n.alertname === c.name && n.target === c.target && n.at >= t0,
        );
        const evidence = page ? await pageReport(page, c.target, t0) : undefined;
        const r: RunResult = {
          fault: c.name,
          run,
          injectedAt: t0,
          ttdMs: page ? page.at - t0 : undefined,
          detectMs: evidence?.findingAt !== undefined ? evidence.findingAt - t0 : undefined,
          reportMs: evidence ? evidence.endedAt - t0 : undefined,
          resolveMs: resolved ? resolved.at - t1 : undefined,
          pages: mine.filter((n) => n.status === 'firing').length,
          resolves: mine.filter((n) => n.status === 'resolved').length,
          unsigned: receiver.unsigned(),
        };
        results.push(r);
        process.stderr.write(
          `${c.name} run ${run}: ttd ${r.ttdMs ?? 'MISS'} ms, resolve ${r.resolveMs ?? '-'} ms after removal, pages ${r.pages}, resolves ${r.resolves}\n`,
        );
      }
    };
    // A watch runs for hours; its first seconds (the probe still learning each rendition's publication
    // phase) are not what on-call relies on. Warm up before the first injection.
    process.stderr.write(`watches running; ${WARMUP_S} s warm-up\n`);
    await sleep(WARMUP_S * 1000);
    // Phase 1: the stream faults side by side (light: stream probes only).
    await Promise.all(cases.filter((c) => c.name !== 'g2g').map(runCase));
    // The master watch follows every fmp4 rendition: not needed while g2g's publish-delay runs on them.
    await api(base, 'DELETE', '/v1/watches/w-fmp4-master').catch(() => undefined);
    // Phase 2: g2g, with back-to-back browser checks (one Chromium session at a time) while the stream
    // watches keep running. Apart from phase 1 so Chromium's CPU does not blur the stream faults' timing.
    // g2g baseline: fresh sessions without a fault; the expectation sits between them and them + 3 s.
    process.stderr.write('g2g baseline checks...\n');
    for (let i = 0; i < 4; i++) {
      const g = await browserCheck(base);
      if (g !== undefined) baseline.push(g);
    }
    if (baseline.length < 2) throw new Error(`browser checks gave no g2g (${baseline.length} of 4)`);
    g2gMs = Math.round((Math.min(...baseline) + Math.max(...baseline)) / 2 + 1500);
    await api(base, 'PUT', '/v1/targets/fmp4', {
      id: 'fmp4',
      url: fmp4.url,
      protocol: 'hls',
      expectations: { g2g_ms: g2gMs },
    });
    process.stderr.write(
      `g2g baseline ${baseline.map((b) => Math.round(b)).join(', ')} ms -> expectation ${g2gMs} ms\n`,
    );
    checker = (async () => {
      while (checking) await browserCheck(base).catch(() => sleep(1000));
    })();

    await runCase(cases.find((c) => c.name === 'g2g') as FaultCase);
    checking = false;

    const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    printTable(
      results
        .sort((a, b) => a.fault.localeCompare(b.fault) || a.run - b.run)
        .map((r) => ({
          fault: r.fault,
          run: r.run,
          injected: iso(r.injectedAt),
          'finding ms': r.detectMs ?? '-',
          'report ms': r.reportMs ?? '-',
          'ttd ms': r.skipped
            ? 'skipped (alert active without a fault)'
            : (r.ttdMs ?? `MISS (> ${PAGE_TIMEOUT_MS})`),
          'resolve ms after removal': r.resolveMs ?? '-',
          pages: r.pages,
          resolves: r.resolves,
        })),
    );
    process.stdout.write('\n');
    const p95: Record<string, number> = {};
    const summary = cases.map((c) => {
      const all = results.filter((r) => r.fault === c.name);
      const rs = all.filter((r) => !r.skipped);
      const ttd = rs.map((r) => r.ttdMs ?? c.pageTimeoutMs).sort((a, b) => a - b);
      p95[c.name] = ttd.length ? percentile(ttd, 0.95) : Number.NaN;
      const med = (xs: (number | undefined)[]) => {
        const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
        return v.length ? percentile(v, 0.5) : '-';
      };
      return {
        fault: c.name,
        runs: rs.length,
        skipped: all.length - rs.length,
        'p50 ms': ttd.length ? percentile(ttd, 0.5) : Number.NaN,
        'p95 ms': p95[c.name] as number,
        'max ms': ttd[ttd.length - 1] ?? Number.NaN,
        missed: rs.filter((r) => r.ttdMs === undefined).length,
        'median: probe finding': med(rs.map((r) => r.detectMs)),
        'finding -> report': med(
          rs.map((r) => (r.detectMs === undefined ? undefined : (r.reportMs as number) - r.detectMs)),
        ),
        'report -> page': med(
          rs.map((r) =>
            r.reportMs === undefined || r.ttdMs === undefined ? undefined : r.ttdMs - r.reportMs,
          ),
        ),
        'exactly one page + one resolve': `${rs.filter((r) => r.pages === 1 && r.resolves === 1).length}/${rs.length}`,
      };
    });
    printTable(summary);
    process.stdout.write(
      `\ntestbed: ffmpeg restarted ${testbed.restarts()} time(s) during the bench (each one stalls every playlist for a few seconds)`,
    );
    process.stdout.write(
      `\nreceiver: ${receiver.notices.length} alert notices, ${receiver.unsigned()} with a bad or missing HMAC signature; g2g expectation ${g2gMs} ms (baseline ${baseline.map((b) => Math.round(b)).join(', ')} ms)\n`,
    );
    process.stdout.write(
      `ttd_p95_ms stale=${p95.stale} http404=${p95.http404} slow=${p95.slow} master=${p95.master} g2g=${p95.g2g}\n`,
    );
  } catch (err) {
    process.stderr.write(`bench:ttd failed: ${(err as Error).message} (process logs: ${logFile})\n`);
    process.exitCode = 1;
  } finally {
    checking = false;
    stopping = true;
    for (const c of children.reverse()) await stopChild(c).catch(() => undefined);
    await checker.catch(() => undefined);
    await tb?.stop();
    await receiver.close();
    await nats.cleanup();
    if (process.exitCode !== 1 && !KEEP) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`controller and agent logs: ${logFile}\n`);
  }
}

void main();

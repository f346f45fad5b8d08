/**
 * Stream probe benchmark (`npm run bench:stream`).
 *
 * A synthetic live origin in a separate process (probes/stream/testing/origin.ts) serves N advancing HLS
 * renditions on loopback (TD 2 s, window 6, 5 renditions per master). One StreamProber follows them all.
 *
 *  1. capacity, segmentFetch none: CPU of this process (% of one core), RSS, poll lateness = poll-interval
 *     drift (how late each reload started vs the time it was intended for: the RFC time — TD after a change,
 *     TD/2 after none, from the previous request start — plus jitter, or the aim just after the expected
 *     publication, which is never earlier; % of the interval), and separately the lateness vs the RFC
 *     earliest time (which includes deliberate waits) -> renditions_per_core = N / (CPU share of one core),
 *     the N actually held while poll_late_p95_pct stays within 10 %.
 *  2. detection, same run: stale and mseq-regress faults injected through the origin's fault API
 *     (POST /faults, the testbed's shape) on random renditions at random phases; delay = first finding
 *     naming that rendition - injection.
 *  3. segmentFetch newest on a smaller set: CPU per rendition with segment downloads, and detection of a
 *     segment 404.
 *
 *  4. with --testbed: the same faults (stale, segment 404, mseq-regress) injected through the real ffmpeg
 *     testbed's API (full ladder, TD 2 s), one per rendition, detection delay of each.
 *
 * Flags: --renditions N (4000) --measure S (30) --newest N (500) --faults K (20) --quick --testbed
 * Last line: renditions_per_core=<n> poll_late_p95_pct=<n> stale_detect_p95_ms=<n> ...
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { StreamProber } from '../probes/stream/index.js';
import { phaseCounters } from '../probes/stream/phase.js';
import { type FaultSpec, type StreamSpec, startSyntheticOrigin } from '../probes/stream/testing/origin.js';
import { createLogger } from '../shared/log.js';
import type { Finding } from '../shared/schemas.js';
import { startTestbed } from '../testbed/index.js';

const TD = 2;
const PER_STREAM = ['1080p', '720p', '480p', '360p'];

interface Args {
  testbed: boolean;
  renditions: number;
  measureS: number;
  warmupS: number;
  newest: number;
  faults: number;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, def: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? Number(argv[i + 1]) : def;
  };
  const quick = argv.includes('--quick');
  return {
    testbed: argv.includes('--testbed'),
    renditions: get('renditions', quick ? 1000 : 4000),
    measureS: get('measure', quick ? 12 : 30),
    warmupS: get('warmup', quick ? 30 : 30),
    newest: get('newest', quick ? 200 : 500),
    faults: get('faults', quick ? 8 : 20),
  };
}

function streams(prefix: string, renditions: number): StreamSpec[] {
  const perStream = PER_STREAM.length + 1; // + audio
  const n = Math.max(1, Math.round(renditions / perStream));
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    renditions: PER_STREAM,
    audio: true,
    td: TD,
    window: 6,
    segmentBytes: 2048,
    // Streams started at different times: publication instants spread over the segment duration.
    t0: now - 7 * TD * 1000 - Math.floor(Math.random() * TD * 1000),
  }));
}

/** The origin in its own process, so its CPU is not ours. */
interface OriginProc {
  base: string;
  child: ChildProcess;
  cpu(): Promise<{ user: number; system: number; rss: number }>;
  inject(f: FaultSpec): Promise<number>;
  stop(): Promise<void>;
}

async function startOriginProcess(specs: StreamSpec[]): Promise<OriginProc> {
  const child = fork(fileURLToPath(import.meta.url), ['--origin'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const pending = new Map<number, (v: unknown) => void>();
  child.on('message', (m: { id?: number; value?: unknown }) => {
    if (m.id !== undefined) {
      pending.get(m.id)?.(m.value);
      pending.delete(m.id);
    }
  });
  const call = <T>(op: string, arg?: unknown) =>
    new Promise<T>((resolve) => {
      const id = ++seq;
      pending.set(id, resolve as (v: unknown) => void);
      child.send({ id, op, arg });
    });
  const base = await call<string>('start', specs);
  return {
    base,
    child,
    cpu: () => call('cpu'),
    async inject(f) {
      const t = Date.now();
      const res = await fetch(`${base}/faults`, { method: 'POST', body: JSON.stringify(f) });
      await res.text();
      return t;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function originMain(): Promise<void> {
  let origin: Awaited<ReturnType<typeof startSyntheticOrigin>> | undefined;
  process.on('message', async (m: { id: number; op: string; arg?: unknown }) => {
    if (m.op === 'start') {
      origin = await startSyntheticOrigin({ streams: m.arg as StreamSpec[] });
      process.send?.({ id: m.id, value: origin.base });
    } else if (m.op === 'cpu') {
      const c = process.cpuUsage();
      process.send?.({ id: m.id, value: { user: c.user, system: c.system, rss: process.memoryUsage().rss } });
    }
  });
  process.on('SIGTERM', () => {
    void origin?.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Watcher {
  prober: StreamProber;
  found: Map<string, number>;
  /** First evidence seen per finding code (printed when a healthy rendition has one). */
  examples: Map<string, string>;
  stop(): Promise<void>;
}

/** One prober, one check job per master, all running; findings recorded by target|variant|code. */
function watchAll(
  base: string,
  specs: StreamSpec[],
  segmentFetch: 'none' | 'newest',
  durationS: number,
): Watcher {
  const found = new Map<string, number>();
  const examples = new Map<string, string>();
  const prober = new StreamProber({
    segmentFetch,
    logger: createLogger('bench-stream', 'warn'),
    onFinding: (f: Finding, target: string) => {
      const key = `${target}|${f.variant}|${f.code}`;
      if (!found.has(key)) found.set(key, Date.now());
      if (!examples.has(f.code)) examples.set(f.code, `${target} ${f.variant}: ${f.evidence.slice(0, 600)}`);
    },
  });
  const controllers: AbortController[] = [];
  const runs: Promise<unknown>[] = [];
  specs.forEach((s, i) => {
    // Stagger starts over 2 s: an agent receives its jobs over time, not in one tick.
    const delay = (i / specs.length) * 2000;
    const ac = new AbortController();
    controllers.push(ac);
    runs.push(
      sleep(delay).then(() =>
        prober.run(
          {
            target: { id: s.id, url: `${base}/hls/${s.id}/master.m3u8`, protocol: 'hls' },
            mode: 'check',
            durationS,
            expectations: {},
          },
          { signal: ac.signal, logger: createLogger('bench-stream', 'warn') },
        ),
      ),
    );
  });
  return {
    prober,
    found,
    examples,
    async stop() {
      for (const ac of controllers) ac.abort();
      await Promise.all(runs);
      await prober.close();
    },
  };
}

async function measure(
  w: Watcher,
  origin: OriginProc,
  seconds: number,
): Promise<{
  cpuPct: number;
  originCpuPct: number;
  rssMb: number;
  heapMb: number;
  lateP50: number;
  lateP95: number;
  lateMax: number;
  rfcLateP95: number;
  deliberate: number;
  timerP95: number;
  polls: number;
  phase: string;
}> {
  w.prober.resetStats();
  const p0 = { ...phaseCounters };
  const c0 = process.cpuUsage();
  const o0 = await origin.cpu();
  const t0 = performance.now();
  let rss = 0;
  let heap = 0;
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  }
  const wall = (performance.now() - t0) * 1000;
  const c = process.cpuUsage(c0);
  const o1 = await origin.cpu();
  const s = w.prober.stats();
  const phase = Object.entries(phaseCounters)
    .map(([k, v]) => `${k} ${v - (p0[k as keyof typeof p0] ?? 0)}`)
    .join(', ');
  return {
    cpuPct: ((c.user + c.system) / wall) * 100,
    originCpuPct: ((o1.user - o0.user + o1.system - o0.system) / wall) * 100,
    rssMb: rss / 1024 / 1024,
    heapMb: heap / 1024 / 1024,
    lateP50: s.pollLateP50Pct ?? Number.NaN,
    lateP95: s.pollLateP95Pct ?? Number.NaN,
    lateMax: s.pollLateMaxPct ?? Number.NaN,
    rfcLateP95: s.pollRfcLateP95Pct ?? Number.NaN,
    deliberate: (s.deliberateLateShare ?? Number.NaN) * 100,
    timerP95: s.timerLateP95Ms ?? Number.NaN,
    polls: s.polls,
    phase,
  };
}

/** Injects `count` faults of one type on random renditions of distinct streams; returns detection delays. */
async function detect(
  w: Watcher,
  origin: OriginProc,
  specs: StreamSpec[],
  used: Set<string>,
  type: FaultSpec['type'],
  code: string,
  count: number,
  extra: Partial<FaultSpec> = {},
): Promise<{ delays: number[]; missed: number; wrong: number }> {
  const injected: Array<{ stream: string; variant: string; at: number }> = [];
  for (let i = 0; i < count; i++) {
    const free = specs.filter((s) => !used.has(s.id));
    const s = free[Math.floor(Math.random() * free.length)];
    if (!s) break;
    used.add(s.id);
    const rendition = PER_STREAM[Math.floor(Math.random() * PER_STREAM.length)]!;
    // Random phase relative to segment publication.
    await sleep(200 + Math.random() * TD * 1000);
    const at = await origin.inject({ stream: s.id, rendition, type, ...extra });
    injected.push({ stream: s.id, variant: `${rendition}.m3u8`, at });
  }
  await sleep(4 * TD * 1000 + 2000);
  const delays: number[] = [];
  let missed = 0;
  for (const f of injected) {
    const seen = w.found.get(`${f.stream}|${f.variant}|${code}`);
    if (seen === undefined) missed++;
    else delays.push(seen - f.at);
  }
  // Findings of this code on a rendition we did not touch would be false positives.
  let wrong = 0;
  for (const key of w.found.keys()) {
    const [stream, variant, c] = key.split('|');
    if (c === code && !injected.some((f) => f.stream === stream && f.variant === variant)) {
      wrong++;
      if (process.env.BENCH_DEBUG && wrong < 10) {
        console.log(
          'wrong',
          key,
          w.found.get(key),
          injected.find((f) => f.stream === stream),
        );
      }
    }
  }
  return { delays, missed, wrong };
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells.map((c, i) => String(typeof c === 'number' ? fmt(c) : c).padStart(widths[i] ?? 10)).join('  ');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

/** Faults through the real testbed: one watch over its HLS TS ladder, each fault type once per rendition. */
async function testbedPhase(log: (s: string) => void): Promise<Record<string, number[]>> {
  const logger = createLogger('bench-stream-testbed', 'warn');
  const tb = await startTestbed({ port: 0, ladder: 'full', segmentS: TD, logger });
  const delays: Record<string, number[]> = { stale: [], 'segment 404': [], 'mseq-regress': [] };
  try {
    const stream = tb.streams.find((x) => x.id === 'hls-ts');
    if (!stream) throw new Error('testbed has no hls-ts stream');
    const found = new Map<string, number>();
    const prober = new StreamProber({
      logger,
      onFinding: (f) => {
        const key = `${f.variant}|${f.code}`;
        if (!found.has(key)) found.set(key, Date.now());
      },
    });
    const ac = new AbortController();
    const run = prober.run(
      {
        target: { id: 'testbed', url: stream.url, protocol: 'hls' },
        mode: 'check',
        durationS: 3600,
        expectations: {},
      },
      { signal: ac.signal, logger },
    );
    await sleep(30_000);
    const faults: Array<[string, string, Record<string, unknown>]> = [
      ['stale', 'playlist-stale', { type: 'stale' }],
      ['segment 404', 'http-status', { type: 'status', code: 404, on: 'segments' }],
      ['mseq-regress', 'mseq-regression', { type: 'mseq-regress', by: 3 }],
    ];
    for (const [name, code, fault] of faults) {
      // A stalled subtitle rendition is captions-stale, not playlist-stale (bench:viewer covers it).
      for (const r of stream.renditions.filter((x) => x.type !== 'subtitles')) {
        await sleep(Math.random() * TD * 1000);
        const at = Date.now();
        tb.faults.inject({ stream: 'hls-ts', rendition: r.name, ...fault });
        const deadline = at + 6 * TD * 1000;
        let seen: number | undefined;
        while (Date.now() < deadline && seen === undefined) {
          await sleep(100);
          for (const [key, t] of found)
            if (key.startsWith(`${r.name}/`) && key.endsWith(`|${code}`)) seen = t;
        }
        tb.faults.clear();
        if (seen !== undefined) delays[name]!.push(seen - at);
        else log(`testbed: ${name} on ${r.name} not detected within ${6 * TD} s`);
        await sleep(3 * TD * 1000);
      }
    }
    ac.abort();
    await run;
    await prober.close();
  } finally {
    await tb.stop();
  }
  return delays;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(
    `stream probe bench: ${args.renditions} renditions, TD ${TD} s, measure ${args.measureS} s (pid ${process.pid})`,
  );

  // Phase 1 + 2: capacity with playlist checks only, then fault detection.
  const specA = streams('a', args.renditions);
  const held = specA.length * (PER_STREAM.length + 1);
  const originA = await startOriginProcess(specA);
  const runS = args.warmupS + args.measureS + 8 * (4 * TD + 2) + args.faults * 2 * (TD + 1) + 60;
  const wA = watchAll(originA.base, specA, 'none', runS);
  await sleep(args.warmupS * 1000);
  const cap = await measure(wA, originA, args.measureS);
  const healthyFindings = wA.found.size;
  if (wA.found.size > 0) for (const [code, ex] of wA.examples) log(`healthy finding example ${code}: ${ex}`);
  const healthyByCode = new Map<string, number>();
  for (const key of wA.found.keys()) {
    const code = key.split('|')[2] ?? '?';
    healthyByCode.set(code, (healthyByCode.get(code) ?? 0) + 1);
  }
  const used = new Set<string>();
  const stale = await detect(wA, originA, specA, used, 'stale', 'playlist-stale', args.faults);
  const mseq = await detect(
    wA,
    originA,
    specA,
    used,
    'mseq-regress',
    'mseq-regression',
    Math.ceil(args.faults / 2),
    {
      by: 3,
    },
  );
  await wA.stop();
  await originA.stop();

  // Phase 3: segmentFetch newest on a smaller set.
  const specB = streams('b', args.newest);
  const heldB = specB.length * (PER_STREAM.length + 1);
  const originB = await startOriginProcess(specB);
  const wB = watchAll(originB.base, specB, 'newest', args.warmupS + args.measureS + 30 + args.faults * 4);
  await sleep(args.warmupS * 1000);
  const newest = await measure(wB, originB, Math.min(args.measureS, 20));
  const nf = await detect(
    wB,
    originB,
    specB,
    new Set(),
    'status',
    'http-status',
    Math.ceil(args.faults / 2),
    {
      status: 404,
      what: 'segment',
    },
  );
  await wB.stop();
  await originB.stop();

  const tbDelays = args.testbed ? await testbedPhase(log) : undefined;

  const perCore = cap.cpuPct > 0 ? Math.floor((held / cap.cpuPct) * 100) : 0;
  const usNone = (cap.cpuPct / 100 / held) * 1e6;
  const usNewest = (newest.cpuPct / 100 / heldB) * 1e6;
  const widths = [34, 12, 10, 10, 10, 12, 12];
  log('');
  log(row(['phase', 'renditions', 'cpu %', 'rss MB', 'late p50%', 'late p95%', 'origin cpu%'], widths));
  log(
    row(
      [
        'playlists only (fetch none)',
        held,
        cap.cpuPct,
        cap.rssMb,
        cap.lateP50,
        cap.lateP95,
        cap.originCpuPct,
      ],
      widths,
    ),
  );
  log(
    row(
      [
        'with newest segment (fetch newest)',
        heldB,
        newest.cpuPct,
        newest.rssMb,
        newest.lateP50,
        newest.lateP95,
        newest.originCpuPct,
      ],
      widths,
    ),
  );
  log('');
  log(`memory: rss ${fmt(cap.rssMb)} MB, heap used ${fmt(cap.heapMb)} MB (max over the window)`);
  log(
    `reloads measured: ${cap.polls} (${fmt(cap.polls / args.measureS)}/s); late (vs intended) max ${fmt(cap.lateMax)} %; ` +
      `vs the RFC earliest time p95 ${fmt(cap.rfcLateP95)} % (${fmt(cap.deliberate)} % of reloads deliberately later: ` +
      `phase search / realignment); timer late p95 ${fmt(cap.timerP95)} ms`,
  );
  log(`publication phase decisions in the window: ${cap.phase}`);
  log(`cpu per rendition: ${fmt(usNone)} us/s playlists only, ${fmt(usNewest)} us/s with newest segment`);
  log(
    `findings on healthy renditions before any fault: ${healthyFindings}` +
      (healthyFindings > 0 ? ` (${[...healthyByCode].map(([c, n]) => `${c} ${n}`).join(', ')})` : ''),
  );
  log('');
  const widths2 = [22, 10, 8, 8, 12, 12, 12];
  log(row(['fault', 'injected', 'missed', 'wrong', 'p50 ms', 'p95 ms', 'max ms'], widths2));
  for (const [name, d] of [
    ['stale', stale],
    ['mseq-regress', mseq],
    ['segment 404', nf],
  ] as const) {
    log(
      row(
        [
          name,
          d.delays.length + d.missed,
          d.missed,
          d.wrong,
          pct(d.delays, 50),
          pct(d.delays, 95),
          Math.max(...d.delays),
        ],
        widths2,
      ),
    );
  }
  if (tbDelays) {
    log('');
    log(row(['testbed fault (TD 2 s)', 'detected', 'p50 ms', 'p95 ms', 'max ms'], widths2));
    for (const [name, d] of Object.entries(tbDelays)) {
      log(row([name, d.length, pct(d, 50), pct(d, 95), Math.max(...d)], widths2));
    }
  }
  log('');
  log(
    [
      `renditions_per_core=${perCore}`,
      `poll_late_p95_pct=${fmt(cap.lateP95)}`,
      `stale_detect_p95_ms=${Math.round(pct(stale.delays, 95))}`,
      `renditions=${held}`,
      `cpu_pct=${fmt(cap.cpuPct)}`,
      `rss_mb=${Math.round(cap.rssMb)}`,
      `poll_late_p50_pct=${fmt(cap.lateP50)}`,
      `rfc_late_p95_pct=${fmt(cap.rfcLateP95)}`,
      `newest_cpu_us_per_rendition_s=${fmt(usNewest)}`,
      `mseq_detect_p95_ms=${Math.round(pct(mseq.delays, 95))}`,
      `notfound_detect_p95_ms=${Math.round(pct(nf.delays, 95))}`,
      `missed=${stale.missed + mseq.missed + nf.missed}`,
      `false_findings=${healthyFindings + stale.wrong + mseq.wrong + nf.wrong}`,
      ...(tbDelays ? [`testbed_stale_detect_p95_ms=${Math.round(pct(tbDelays.stale ?? [], 95))}`] : []),
    ].join(' '),
  );
}

if (process.argv.includes('--origin')) void originMain();
else
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );

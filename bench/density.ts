/**
 * Density of the browser probe (issue 4, item 7): the most concurrent 360p sessions this machine holds with
 * < 1% dropped frames, with CPU and PSS per session.
 *
 *   node dist/bench/density.js [--steps 4,8,12,16,20,24] [--warmup 10] [--measure 30] [--stagger 250]
 *
 * One testbed with the single ladder (one 360p30 H.264 800k HLS TS rendition, audio muxed in). Per step n:
 * a fresh BrowserProber (one Chromium, maxSessions = n) starts n watch sessions `stagger` ms apart, each
 * pinned to 360p and lasting warmup + measure seconds. A session's first interval report (its first `warmup`
 * seconds: window opening, startup) is left out; dropped/total frames are the rest of the session (summary
 * minus first interval). CPU is read from /proc/<pid>/stat for every process of the Chromium process group,
 * for ffmpeg and for this Node process (testbed painter + origin, and the prober's side of the DevTools
 * protocol), over the window in which every session is past its warm-up and none has ended. PSS is the sum of
 * Pss in /proc/<pid>/smaps_rollup over the Chromium process group (shared pages counted once), averaged over
 * that window, divided by n. Steps go up until one fails (dropped >= 1%, or a session that did not play).
 *
 * Last line: sessions=<largest passing n> dropped_pct=<its steady-state dropped %> pss_mb_per_session=<its PSS / n>
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { BrowserProber } from '../probes/browser/index.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { ProbeResult } from '../shared/schemas.js';
import { startTestbed, type Testbed } from '../testbed/index.js';
import { arg, CpuMeter, chromiumPids, chromiumPssMb, fmt, numList, sleep } from './browser-lib.js';
import { printTable } from './lib.js';

interface StepResult {
  n: number;
  played: number;
  notOk: number;
  stalls: number;
  dropped: number;
  total: number;
  droppedAll: number;
  totalAll: number;
  windowS: number;
  chromiumCpu: number;
  ffmpegCpu: number;
  nodeCpu: number;
  machineBusy: number;
  pssMb: number;
  pass: boolean;
}

/** Busy and total jiffies of the whole machine from /proc/stat (all cores). */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

async function runStep(
  tb: Testbed,
  n: number,
  o: { warmupS: number; measureS: number; staggerMs: number },
  log: Logger,
): Promise<StepResult> {
  const stream = tb.streams[0]!;
  const prober = new BrowserProber({
    logger: log,
    maxSessions: n,
    // No recycling in the middle of a step.
    recycleAfterSessions: 1_000_000,
    recycleAbovePssMb: 1_000_000,
  });
  const chromium = new CpuMeter(() => chromiumPids(prober.health().pid));
  const ffmpeg = new CpuMeter(() => {
    const p = tb.ffmpegPid();
    return p === undefined ? [] : [p];
  });
  const node = new CpuMeter(() => [process.pid]);
  const firstInterval = new Map<number, ProbeResult>();
  let windowStart:
    | { c: number; f: number; n: number; m: ReturnType<typeof machineJiffies>; t: number }
    | undefined;
  let windowEnd: typeof windowStart;
  const pss: number[] = [];
  const mark = () => ({
    c: chromium.reading().cpuS,
    f: ffmpeg.reading().cpuS,
    n: node.reading().cpuS,
    m: machineJiffies(),
    t: performance.now(),
  });

  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(1000);
      chromium.sample();
      ffmpeg.sample();
      node.sample();
      if (windowStart && !windowEnd) {
        const p = chromiumPssMb(prober.health().pid);
        if (p !== undefined) pss.push(p);
      }
    }
  })();

  const sessions: Promise<ProbeResult>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      if (i > 0) await sleep(o.staggerMs);
      sessions.push(
        prober
          .run(
            {
              target: { id: `density-${i}`, url: stream.url, protocol: stream.protocol },
              mode: 'watch',
              durationS: o.warmupS + o.measureS,
              intervalS: o.warmupS,
              expectations: {},
              rendition: { pinHeight: 360 },
            },
            {
              signal: new AbortController().signal,
              logger: log,
              onInterval: (r) => {
                if (firstInterval.has(i)) return;
                firstInterval.set(i, r);
                if (firstInterval.size === n && !windowStart) windowStart = mark();
              },
            },
          )
          .then((r) => {
            if (windowStart && !windowEnd) windowEnd = mark();
            return r;
          }),
      );
    }
    const results = await Promise.all(sessions);
    sampling = false;
    await sampler;

    let dropped = 0;
    let total = 0;
    let droppedAll = 0;
    let totalAll = 0;
    let played = 0;
    let stalls = 0;
    let notOk = 0;
    results.forEach((r, i) => {
      const m = r.metrics;
      const first = firstInterval.get(i)?.metrics;
      if ((m.total_frames ?? 0) > 0) played++;
      if (r.outcome !== 'ok') notOk++;
      stalls += m.stall_count ?? 0;
      droppedAll += m.dropped_frames ?? 0;
      totalAll += m.total_frames ?? 0;
      dropped += (m.dropped_frames ?? 0) - (first?.dropped_frames ?? 0);
      total += (m.total_frames ?? 0) - (first?.total_frames ?? 0);
      if (r.outcome !== 'ok')
        process.stderr.write(`n=${n} session ${i}: ${r.outcome}: ${r.reasons.join('; ')}\n`);
    });
    const a = windowStart;
    const b = windowEnd;
    const wall = a && b ? (b.t - a.t) / 1000 : Number.NaN;
    const pct = (x: number) => (wall > 0 ? (x / wall) * 100 : Number.NaN);
    const machineBusy =
      a && b ? ((b.m.busy - a.m.busy) / Math.max(1, b.m.total - a.m.total)) * 100 : Number.NaN;
    const droppedPct = total > 0 ? (dropped / total) * 100 : Number.NaN;
    return {
      n,
      played,
      notOk,
      stalls,
      dropped,
      total,
      droppedAll,
      totalAll,
      windowS: wall,
      chromiumCpu: a && b ? pct(b.c - a.c) : Number.NaN,
      ffmpegCpu: a && b ? pct(b.f - a.f) : Number.NaN,
      nodeCpu: a && b ? pct(b.n - a.n) : Number.NaN,
      machineBusy,
      pssMb: pss.length ? pss.reduce((x, y) => x + y, 0) / pss.length : Number.NaN,
      pass: played === n && total > 0 && droppedPct < 1,
    };
  } finally {
    sampling = false;
    await Promise.allSettled(sessions);
    await sampler;
    await prober.close();
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const steps = numList('steps', '4,8,12,16,20,24');
  const o = {
    warmupS: Number(arg('warmup', '10')),
    measureS: Number(arg('measure', '30')),
    staggerMs: Number(arg('stagger', '250')),
  };
  const log = createLogger('bench-density', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn', 2);
  const tb = await startTestbed({ port: 0, ladder: 'single', logger: log });
  const results: StepResult[] = [];
  try {
    console.log(
      `density: testbed ${tb.streams[0]!.url} (single ladder, 360p30 H.264 800k); steps ${steps.join(', ')}; ` +
        `sessions ${o.staggerMs} ms apart, ${o.warmupS} s warm-up + ${o.measureS} s measured; ` +
        `2 cores shared (load average at start ${loadavg()[0]!.toFixed(2)})`,
    );
    for (const n of steps) {
      const r = await runStep(tb, n, o, log);
      results.push(r);
      process.stderr.write(
        `n=${n}: dropped ${r.dropped}/${r.total} chromium ${fmt(r.chromiumCpu)}% pss ${fmt(r.pssMb)} MB\n`,
      );
      if (!r.pass) break;
    }
  } finally {
    await tb.stop();
  }

  const pctOf = (d: number, t: number) => (t > 0 ? (d / t) * 100 : Number.NaN);
  printTable(
    results.map((r) => ({
      sessions: r.n,
      played: `${r.played}/${r.n}`,
      not_ok: r.notOk,
      stalls: r.stalls,
      dropped: `${r.dropped}/${r.total}`,
      dropped_pct: fmt(pctOf(r.dropped, r.total), 2),
      dropped_pct_incl_warmup: fmt(pctOf(r.droppedAll, r.totalAll), 2),
      window_s: fmt(r.windowS),
      chromium_cpu_pct: fmt(r.chromiumCpu),
      cpu_pct_per_session: fmt(r.chromiumCpu / r.n, 1),
      ffmpeg_cpu_pct: fmt(r.ffmpegCpu),
      node_cpu_pct: fmt(r.nodeCpu),
      machine_busy_pct: fmt(r.machineBusy),
      pss_mb: fmt(r.pssMb),
      pss_mb_per_session: fmt(r.pssMb / r.n),
      pass: r.pass ? 'yes' : 'no',
    })),
  );
  console.log(
    [
      "dropped: frames dropped / presented+dropped after each session's warm-up interval (getVideoPlaybackQuality);",
      'cpu: % of one core over the window where all sessions are past warm-up and none has ended; chromium = its',
      "whole process group; node = this process (testbed painter + origin, and the prober's DevTools client);",
      'machine_busy_pct: all cores, everyone (100 = both cores busy); pss: Chromium process group, window mean.',
    ].join('\n'),
  );
  console.log(`runtime ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // The largest n whose step and every smaller step passed.
  let best: StepResult | undefined;
  for (const r of results) {
    if (!r.pass) break;
    best = r;
  }
  if (!best) {
    const r = results[0];
    console.log(
      `sessions=0 dropped_pct=${r ? fmt(pctOf(r.dropped, r.total), 2) : 'NaN'} pss_mb_per_session=0`,
    );
    process.exitCode = 1;
    return;
  }
  console.log(
    `sessions=${best.n} dropped_pct=${fmt(pctOf(best.dropped, best.total), 2)} pss_mb_per_session=${fmt(best.pssMb / best.n)}`,
  );
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});

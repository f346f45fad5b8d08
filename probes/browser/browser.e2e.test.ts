import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { ProbeResult } from '../../shared/schemas.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import type { ProbeJob } from '../types.js';
import { BrowserProber } from './index.js';

/**
 * Real Chromium against the real testbed: a live ffmpeg HLS stream whose frames carry the in-frame capture
 * clock. One window at a time (2 shared cores).
 */
const logger = createLogger('browser-e2e', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');

let testbed: Testbed;
let source: { url: string; origin: string };
let prober: BrowserProber;

const job = (url: string, over: Partial<ProbeJob> = {}): ProbeJob => ({
  target: { id: 'e2e', url, protocol: 'hls' },
  durationS: 15,
  mode: 'check',
  expectations: {},
  ...over,
});
const ctx = (signal = new AbortController().signal, onInterval?: (r: ProbeResult) => void) => ({
  signal,
  logger,
  onInterval,
});

/**
 * A pass-through proxy in front of the testbed origin that records request paths and can hold media segment
 * requests until a given time (an origin/CDN outage as the player sees it).
 */
async function startProxy() {
  const seen: string[] = [];
  let holdUntil = 0;
  let onRequest: ((path: string) => void) | undefined;
  const up = new URL(source.origin);
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    onRequest?.(req.url ?? '');
    const forward = () => {
      const fwd = request(
        { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      fwd.on('error', () => res.writeHead(502).end());
      req.pipe(fwd);
    };
    const wait = holdUntil - Date.now();
    if (/\.(ts|m4s)(\?|$)/.test(req.url ?? '') && wait > 0) setTimeout(forward, wait);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    seen,
    url: source.url.replace(source.origin, origin),
    hold(ms: number) {
      holdUntil = Date.now() + ms;
    },
    onRequest(fn: (path: string) => void) {
      onRequest = fn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  testbed = await startTestbed({ port: 0, ladder: 'single', logger });
  const hls = testbed.streams.find((s) => s.protocol === 'hls');
  if (!hls) throw new Error('testbed has no HLS stream');
  source = { url: hls.url, origin: testbed.url };
  prober = new BrowserProber({ logger });
});

afterAll(async () => {
  await prober?.close();
  await testbed?.stop();
});

describe('browser probe end to end', () => {
  it('a check plays the live stream: startup, parts, segments, g2g vs PDT, no stalls', async () => {
    const r = await prober.run(job(source.url, { durationS: 15 }), ctx());
    ProbeResult.parse(r);
    const m = r.metrics;
    console.log(
      JSON.stringify({
        outcome: r.outcome,
        reasons: r.reasons,
        startup: r.startup,
        metrics: m,
        method: r.latency_method,
        errors: r.errors,
      }),
    );
    expect(r.outcome).toBe('ok');
    // #18: the probe's watch on itself (drain round trip = renderer responsiveness) and its raw samples.
    expect(r.selfCheck?.late).toBe(false);
    expect(r.selfCheck?.drain_rtt_max_ms).toBeGreaterThan(0);
    expect(r.sketches?.segment_download_ms).toBeDefined();
    expect(r.sketches?.g2g_ms).toBeDefined();
    expect(m.startup_ms).toBeGreaterThanOrEqual(50);
    expect(m.startup_ms).toBeLessThanOrEqual(5000);
    const s = r.startup ?? {};
    const parts = [
      s.manifest_ms,
      s.media_playlist_ms,
      s.first_segment_ttfb_ms,
      s.first_segment_ms,
      s.first_buffered_ms,
      s.first_frame_ms,
    ];
    for (const p of parts) expect(p).toBeTypeOf('number');
    // Same origin, in causal order, each <= startup_ms, and the last part is startup itself.
    for (let i = 1; i < parts.length; i++) expect(parts[i]).toBeGreaterThanOrEqual(parts[i - 1] as number);
    expect(s.first_frame_ms).toBe(m.startup_ms);
    expect(m.manifest_ms).toBe(s.manifest_ms);
    expect(m.first_segment_ms).toBe(s.first_segment_ms);

    expect(m.segments_total).toBeGreaterThanOrEqual(3);
    expect(r.segments.length).toBe(m.segments_total);
    for (const seg of r.segments) {
      expect(seg.bytes).toBeGreaterThan(0);
      expect(seg.download_ms).toBeGreaterThanOrEqual(seg.ttfb_ms);
      expect(seg.url.startsWith(`${source.origin}/`)).toBe(true);
    }
    expect(m.segment_ttfb_p50_ms).toBeTypeOf('number');
    expect(m.segment_throughput_p50_kbps).toBeGreaterThan(0);

    expect(r.latency_method).toBe('stamp');
    expect(m.g2g_p50_ms).toBeTypeOf('number');
    expect(m.pdt_latency_p50_ms).toBeTypeOf('number');
    expect(Math.abs((m.g2g_p50_ms as number) - (m.pdt_latency_p50_ms as number))).toBeLessThanOrEqual(150);
    expect(m.g2g_p50_ms).toBeGreaterThan(0);

    expect(m.stall_count).toBe(0);
    expect(m.total_frames).toBeGreaterThan(0);
    expect(m.errors_http).toBe(0);
  });

  it('a URL that 404s fails with the HTTP error recorded and its query redacted', async () => {
    const t0 = Date.now();
    const r = await prober.run(job(`${source.origin}/missing.m3u8?token=s3cr3t`), ctx());
    ProbeResult.parse(r);
    expect(r.outcome).toBe('failed');
    expect(r.reasons[0]).toMatch(/HTTP 404/);
    // A fatal error ends the check early instead of waiting out the duration.
    expect(Date.now() - t0).toBeLessThan(10_000);
    const e = r.errors.find((x) => x.status === 404);
    expect(e).toMatchObject({ category: 'http', fatal: true, status: 404 });
    expect(e?.url).toBe(`${source.origin}/missing.m3u8?token=redacted`);
    expect(r.errors.some((x) => x.url?.includes('s3cr3t'))).toBe(false);
    expect(r.metrics.errors_http).toBeGreaterThanOrEqual(1);
    expect(r.metrics.startup_ms).toBeUndefined();
    expect(r.metrics.stall_count).toBeUndefined();
  });

  // dash.js comes from the dashjs package (or LIVEPROBE_DASHJS); without it this test fails (a probe-error, see dashjs.test.ts), never skips.
  it('a DASH MPD that 404s fails with the status, URLs redacted in every text', async () => {
    const r = await prober.run(
      {
        ...job(`${source.origin}/missing.mpd?token=s3cr3t`),
        target: { id: 'e2e', url: `${source.origin}/missing.mpd?token=s3cr3t`, protocol: 'dash' },
      },
      ctx(),
    );
    ProbeResult.parse(r);
    expect(r.outcome).toBe('failed');
    expect(r.reasons[0]).toMatch(/HTTP 404/);
    expect(r.errors[0]).toMatchObject({ category: 'http', fatal: true, status: 404 });
    expect(JSON.stringify([r.reasons, r.errors])).not.toContain('s3cr3t');
  });

  it('a watch reports intervals with the same schema and stops promptly on abort', async () => {
    const ac = new AbortController();
    const intervals: ProbeResult[] = [];
    let abortedAt = 0;
    const r = await prober.run(
      job(source.url, { mode: 'watch', durationS: 120, intervalS: 3 }),
      ctx(ac.signal, (ir) => {
        intervals.push(ir);
        if (intervals.length === 2) {
          abortedAt = Date.now();
          ac.abort();
        }
      }),
    );
    const stopMs = Date.now() - abortedAt;
    ProbeResult.parse(r);
    for (const ir of intervals) ProbeResult.parse(ir);
    expect(intervals).toHaveLength(2);
    expect(stopMs).toBeLessThan(2000);
    expect(intervals.map((i) => i.mode)).toEqual(['watch', 'watch']);
    expect(intervals[0]?.metrics.startup_ms).toBeTypeOf('number');
    expect(intervals[1]?.metrics.startup_ms).toBeUndefined();
    expect(intervals[1]?.metrics.total_frames).toBeGreaterThan(60);
    expect(intervals[1]?.outcome).toBe('ok');
    expect(r.mode).toBe('watch');
    expect(r.outcome).toBe('ok');
    expect(r.metrics.startup_ms).toBe(intervals[0]?.metrics.startup_ms);
    expect(r.metrics.g2g_p50_ms).toBeTypeOf('number');
  });

  it('testbed picture faults: a frozen picture and a black picture are each seen, timed and named', async () => {
    const ac = new AbortController();
    const since = Date.now();
    const step: { freeze?: string; black?: string; blackSeen?: boolean } = {};
    const r = await prober.run(
      job(source.url, { mode: 'watch', durationS: 90, intervalS: 2 }),
      ctx(ac.signal, (ir) => {
        // Each step waits for the player to show the previous one (latency is several seconds).
        if (!step.freeze && ir.metrics.startup_ms !== undefined)
          step.freeze = testbed.faults.inject({ stream: 'hls-ts', type: 'freeze', durationS: 6 }).id;
        else if (
          step.freeze &&
          !step.black &&
          (ir.metrics.frozen_ms ?? 0) > 0 &&
          !testbed.faults.list().length
        )
          step.black = testbed.faults.inject({ stream: 'hls-ts', type: 'black', durationS: 5 }).id;
        else if (step.black && (ir.metrics.black_ms ?? 0) > 0) step.blackSeen = true;
        else if (step.blackSeen && (ir.metrics.black_ms ?? 0) === 0) ac.abort();
      }),
    );
    ProbeResult.parse(r);
    console.log(JSON.stringify({ picture: { outcome: r.outcome, reasons: r.reasons, metrics: r.metrics } }));
    expect(step.blackSeen).toBe(true);
    // At least the fault's length minus the detection minimum: 6 s frozen (2 s to call it), 5 s black (1 s).
    expect(r.metrics.frozen_ms).toBeGreaterThanOrEqual(3000);
    expect(r.metrics.black_ms).toBeGreaterThanOrEqual(3000);
    expect(r.outcome).toBe('degraded');
    expect(r.reasons.some((x) => /picture frozen/.test(x))).toBe(true);
    expect(r.reasons.some((x) => /picture black/.test(x))).toBe(true);
    // A frozen or black picture is not a stall: the player kept playing.
    expect(r.metrics.stall_count).toBe(0);
    // The truth log names both, as source-wide faults, each injected and expired.
    const log = testbed.faults.log(since);
    for (const type of ['freeze', 'black']) {
      expect(log.filter((e) => e.type === type).map((e) => [e.event, e.scope, e.reason])).toEqual([
        ['inject', 'source', undefined],
        ['remove', 'source', 'expired'],
      ]);
    }
  });

  it('a CPU squeeze on the Chromium process group shows as dropped frames', async () => {
    // Starve the whole browser (puppeteer starts it in its own process group) of CPU once it plays: stopped
    // 70 ms of every 100 ms, as a host saturated by other work would leave it. Frames due while it is stopped
    // are late when it runs again and the media pipeline drops them.
    let squeeze: NodeJS.Timeout | undefined;
    let pgid: number | undefined;
    const release = () => {
      if (squeeze) clearInterval(squeeze);
      squeeze = undefined;
      if (pgid !== undefined) process.kill(-pgid, 'SIGCONT');
    };
    const ac = new AbortController();
    let squeezedIntervals = 0;
    let droppedSeen = false;
    try {
      const r = await prober.run(
        job(source.url, { mode: 'watch', durationS: 60, intervalS: 2 }),
        ctx(ac.signal, (ir) => {
          if (!squeeze && squeezedIntervals === 0 && ir.metrics.startup_ms !== undefined) {
            pgid = prober.health().pid;
            if (pgid === undefined) return;
            squeeze = setInterval(() => {
              process.kill(-(pgid as number), 'SIGSTOP');
              setTimeout(() => process.kill(-(pgid as number), 'SIGCONT'), 70);
            }, 100);
          } else if (squeeze) {
            squeezedIntervals++;
            if ((ir.metrics.dropped_frames ?? 0) > 0) droppedSeen = true;
            // At least 3 squeezed intervals; on until the pipeline has dropped (how soon depends on the
            // host's load), at most 12.
            if ((squeezedIntervals >= 3 && droppedSeen) || squeezedIntervals >= 12) {
              release();
              ac.abort();
            }
          }
        }),
      );
      ProbeResult.parse(r);
      console.log(JSON.stringify({ squeeze: { outcome: r.outcome, metrics: r.metrics } }));
      expect(squeezedIntervals).toBeGreaterThanOrEqual(3);
      expect(r.outcome).not.toBe('probe-error');
      expect(r.metrics.total_frames).toBeGreaterThan(0);
      expect(r.metrics.dropped_frames).toBeGreaterThan(0);
    } finally {
      release();
    }
  });

  it('every player request carries CMCD (query mode): sid per session, cid = target id, synthetic marker', async () => {
    const proxy = await startProxy();
    try {
      const r = await prober.run(job(proxy.url, { durationS: 5 }), ctx());
      expect(r.outcome).toBe('ok');
      const cmcd = proxy.seen.map((u) => new URL(u, 'http://x').searchParams.get('CMCD'));
      expect(cmcd.length).toBeGreaterThanOrEqual(3);
      for (const c of cmcd) {
        expect(c).toMatch(/sid="[0-9a-f-]{36}"/);
        expect(c).toContain('cid="e2e"');
        expect(c).toContain('com.liveprobe-synthetic');
      }
      // One session id for the whole session.
      expect(new Set(cmcd.map((c) => c?.match(/sid="([^"]+)"/)?.[1])).size).toBe(1);
      // Reports show the stream's URLs, not our CMCD parameter.
      expect(r.segments.every((s) => !s.url.includes('CMCD'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('an origin outage mid-play is measured as a stall: count, duration, rebuffer ratio, slow TTFB; degraded', async () => {
    const proxy = await startProxy();
    try {
      let held = false;
      const r = await prober.run(
        job(proxy.url, { mode: 'watch', durationS: 22, intervalS: 2 }),
        ctx(undefined, (ir) => {
          // Once playing, segments stop arriving for 9 s: longer than the ~6 s the player holds.
          if (!held && ir.metrics.startup_ms !== undefined) {
            held = true;
            proxy.hold(9000);
          }
        }),
      );
      ProbeResult.parse(r);
      const m = r.metrics;
      console.log(JSON.stringify({ outage: { outcome: r.outcome, reasons: r.reasons, metrics: m } }));
      expect(held).toBe(true);
      expect(m.stall_count).toBeGreaterThanOrEqual(1);
      expect(m.stall_ms).toBeGreaterThan(500);
      expect(m.rebuffer_ratio).toBeGreaterThan(0);
      expect(m.rebuffer_ratio).toBeLessThan(1);
      expect(m.segment_ttfb_p95_ms).toBeGreaterThan(3000);
      expect(r.outcome).toBe('degraded');
      expect(r.reasons.some((x) => /stall/.test(x))).toBe(true);
      // A stall is not a frozen picture.
      expect(m.frozen_ms).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('two sessions play at once, each in its own window of the one browser', async () => {
    const pid = prober.health().pid;
    const [a, b] = await Promise.all([
      prober.run(job(source.url, { durationS: 8 }), ctx()),
      prober.run(job(source.url, { durationS: 8 }), ctx()),
    ]);
    for (const r of [a, b]) {
      expect(r.outcome).toBe('ok');
      expect(r.metrics.g2g_p50_ms).toBeTypeOf('number');
      expect(r.metrics.total_frames).toBeGreaterThan(100);
    }
    if (pid !== undefined) expect(prober.health().pid).toBe(pid);
    expect(prober.health().sessions).toBe(0);
  });

  it('killing the Chromium PID mid-check gives probe-error, and the next run relaunches and plays', async () => {
    const proxy = await startProxy();
    let killed: number | undefined;
    // Kill the browser when the player asks for its first segment: mid-session, by the PID.
    proxy.onRequest((path) => {
      if (killed === undefined && /\.ts(\?|$)/.test(path)) {
        killed = prober.health().pid;
        if (killed) process.kill(killed, 'SIGKILL');
      }
    });
    try {
      const t0 = Date.now();
      const r = await prober.run(job(proxy.url, { durationS: 20 }), ctx());
      ProbeResult.parse(r);
      expect(killed).toBeTypeOf('number');
      expect(r.outcome).toBe('probe-error');
      expect(r.reasons[0]).toMatch(/browser died/);
      // The session ends when the browser dies, not when the duration passes.
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await proxy.close();
    }
    const t1 = Date.now();
    const next = await prober.run(job(source.url, { durationS: 6 }), ctx());
    ProbeResult.parse(next);
    expect(next.outcome).toBe('ok');
    expect(next.metrics.startup_ms).toBeGreaterThan(0);
    expect(prober.health().pid).not.toBe(killed);
    expect(prober.health().healthy).toBe(true);
    // Recovery (relaunch + startup) is quick.
    expect((next.metrics.startup_ms as number) + (Date.parse(next.startedAt) - t1)).toBeLessThan(10_000);
  });

  it('a watch survives a browser crash: that interval is probe-error, playback resumes on a new browser', async () => {
    let killed: number | undefined;
    const intervals: ProbeResult[] = [];
    const r = await prober.run(
      job(source.url, { mode: 'watch', durationS: 16, intervalS: 3 }),
      ctx(undefined, (ir) => {
        intervals.push(ir);
        if (killed === undefined && ir.metrics.startup_ms !== undefined) {
          killed = prober.health().pid;
          if (killed) process.kill(killed, 'SIGKILL');
        }
      }),
    );
    ProbeResult.parse(r);
    for (const ir of intervals) ProbeResult.parse(ir);
    console.log(JSON.stringify(intervals.map((i) => [i.outcome, i.reasons, i.metrics.total_frames])));
    expect(killed).toBeTypeOf('number');
    const crashed = intervals.findIndex((i) => i.outcome === 'probe-error');
    expect(crashed).toBeGreaterThan(0);
    expect(intervals[crashed]?.reasons[0]).toMatch(/browser died/);
    // Playing again after the relaunch.
    const last = intervals.at(-1);
    expect(crashed).toBeLessThan(intervals.length - 1);
    expect(last?.outcome).toBe('ok');
    expect(last?.metrics.total_frames).toBeGreaterThan(30);
    expect(last?.metrics.g2g_p50_ms).toBeTypeOf('number');
    expect(prober.health().pid).not.toBe(killed);
    // The summary reports the stream (which was fine), and says what happened to us.
    expect(r.outcome).toBe('ok');
    expect(r.reasons.some((x) => /browser died 1x/.test(x))).toBe(true);
    expect(r.metrics.stall_count).toBe(0);
  });

  it('pool: a run beyond maxSessions waits for a slot (and can be aborted there); recycled after N sessions', async () => {
    const small = new BrowserProber({ logger, maxSessions: 1, recycleAfterSessions: 1 });
    try {
      let pidA: number | undefined;
      let queued: Promise<ProbeResult> | undefined;
      const waiting = new AbortController();
      let activeWhileQueued = -1;
      const a = await small.run(
        job(source.url, { mode: 'watch', durationS: 5, intervalS: 1 }),
        ctx(undefined, () => {
          if (!queued) {
            pidA = small.health().pid;
            queued = small.run(job(source.url, { durationS: 5 }), ctx(waiting.signal));
          } else if (!waiting.signal.aborted) {
            activeWhileQueued = small.health().sessions;
            waiting.abort();
          }
        }),
      );
      expect(a.outcome).toBe('ok');
      expect(activeWhileQueued).toBe(1);
      const b = await queued;
      expect(b?.outcome).toBe('probe-error');
      expect(b?.reasons[0]).toMatch(/aborted/);
      expect(b?.metrics).toEqual({});
      // Served its one session and idle: recycled.
      expect(small.health().pid).toBeUndefined();
      const c = await small.run(job(source.url, { durationS: 4 }), ctx());
      expect(c.outcome).toBe('ok');
      expect(pidA).toBeTypeOf('number');
    } finally {
      await small.close();
    }
  });
});

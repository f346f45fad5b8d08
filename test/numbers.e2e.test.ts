import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../agent/index.js';
import { JetStreamPublisher } from '../agent/publisher.js';
import { StandInProber } from '../agent/testing/stand-in.js';
import { type Controller, startController } from '../controller/index.js';
import { StreamProber } from '../probes/stream/index.js';
import { Sweep } from '../shared/api.js';
import { measureClock } from '../shared/clock-offset.js';
import { loadConfig } from '../shared/config.js';
import { EgressPolicy, LOOPBACK_RULES } from '../shared/egress.js';
import { createLogger } from '../shared/log.js';
import { sketchesOf } from '../shared/sample-sketch.js';
import type { Report } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { startTestbed, type Testbed } from '../testbed/index.js';
import { distEntry, kill9, makeReport, waitFor } from './helpers/fleet.js';
import { freePort, startNats, tempDir } from './helpers/procs.js';

/**
 * Numbers on-call can trust (#18), on real parts: one nats-server, one ffmpeg testbed (healthy HLS with
 * PROGRAM-DATE-TIME), one controller with the shipped rules, and agents running the real stream prober.
 * - clock honesty: an agent whose reference clock is 60 s behind its own, answering after 300 ms;
 * - self-watch: an agent pinned to one core beside a CPU burner, stopped (SIGSTOP) on cue mid re-fetch.
 */
const SKEW_MS = 60_000;
const TIME_DELAY_MS = 300;
const HEARTBEAT_S = 5;
/** The stream probe's playlist timeout for a 2 s TARGETDURATION (hls-monitor playlistTimeoutMs). */
const PLAYLIST_TIMEOUT_MS = 4000;
/** The testbed's segment duration: a segment GET still running after it is segment-slow. */
const SEGMENT_MS = 2000;

/** Whether a process is stopped (state T in /proc/<pid>/stat). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

/** A moment the proxy stops the agent: the `nth` request matching `match`, held for `overdueMs` after it came. */
interface Cue {
  what: string;
  match: (path: string) => boolean;
  nth: number;
  /** How long after the request arrived the agent is continued: past the agent's own timer for it. */
  overdueMs: number;
}

/**
 * A pass-through HTTP proxy in front of `origin` that, at each cue in turn, stops `pid` (SIGSTOP), answers
 * the cued request while it is stopped (the answer waits in the agent's socket), and continues it (SIGCONT)
 * once the cue's time has passed. `played` lists the cues played so far (each added at its SIGCONT).
 */
async function stopOnCueProxy(
  origin: URL,
  pid: number,
  cues: Cue[],
): Promise<{ url: string; played: readonly string[]; close(): Promise<void> }> {
  const played: string[] = [];
  const seen = new Map<Cue, number>();
  let busy = false;
  const forward = (req: IncomingMessage, res: ServerResponse, onAnswered?: () => void) => {
    const up = httpRequest(
      { host: origin.hostname, port: origin.port, path: req.url, method: req.method, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        ur.on('end', () => onAnswered?.());
      },
    );
    up.on('error', () => res.destroy());
    up.end();
  };
  const server = createServer((req, res) => {
    const cue = cues[played.length];
    const path = new URL(req.url ?? '/', origin).pathname;
    if (!cue || busy || !cue.match(path)) return forward(req, res);
    const n = (seen.get(cue) ?? 0) + 1;
    seen.set(cue, n);
    if (n !== cue.nth) return forward(req, res);
    busy = true;
    const arrived = Date.now();
    process.kill(pid, 'SIGSTOP');
    void (async () => {
      try {
        await waitFor('the agent stopped', () => isStopped(pid), 10_000, 5);
        await new Promise<void>((r) => forward(req, res, r));
        // Real time has to pass for the agent's timer to be overdue: there is no event to await for that.
        await new Promise((r) => setTimeout(r, Math.max(0, arrived + cue.overdueMs - Date.now())));
        process.kill(pid, 'SIGCONT');
        played.push(cue.what);
        busy = false;
      } catch {
        // Never leave the agent stopped; the test sees the cue missing from `played`.
        process.kill(pid, 'SIGCONT');
      }
    })();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    played,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('numbers on-call can trust', () => {
  const logger = createLogger('test', 'warn');
  let nats: Awaited<ReturnType<typeof startNats>>;
  let testbed: Testbed;
  let controller: Controller;
  let skewed: Agent;
  let nc: NatsConnection;
  let fakeTime: Subscription;
  let hlsUrl: string;
  const children: ChildProcess[] = [];
  const spool = tempDir('numbers-spool');

  beforeAll(async () => {
    nats = await startNats();
    testbed = await startTestbed({ port: 0, ladder: 'single', logger });
    hlsUrl = testbed.streams.find((s) => s.protocol === 'hls')?.url as string;
    const config = loadConfig({
      env: {},
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'agent.region': 'skewed',
        'agent.id': 'skewed-1',
        // Offline after 3 missed beats (15 s): longer than the starved agent's deliberate 5 s stop.
        'agent.heartbeatS': HEARTBEAT_S,
        'agent.spoolMaxMb': 0,
      },
    });
    controller = await startController({ config, logger });
    // A reference clock SKEW_MS behind ours that answers TIME_DELAY_MS after the request: it stamps the
    // middle of its delay, so the agent must measure offset SKEW_MS within ±(round trip / 2) >= 150 ms.
    nc = await connect({ servers: nats.url });
    fakeTime = nc.subscribe('skewtest.time', {
      callback: (_err, msg) => {
        const now = Date.now() + TIME_DELAY_MS / 2 - SKEW_MS;
        setTimeout(() => msg.respond(JSON.stringify({ now })), TIME_DELAY_MS);
      },
    });
    skewed = await startAgent({
      config,
      logger,
      probers: {
        browser: new StandInProber('browser'),
        stream: new StreamProber({ logger, egress: new EgressPolicy(LOOPBACK_RULES) }),
      },
      clockSource: () => measureClock(nc, { time: 'skewtest.time' }, 3),
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) await kill9(c);
    await skewed?.stop();
    await controller?.stop();
    fakeTime?.unsubscribe();
    await nc?.close();
    await testbed?.stop();
    await nats?.stop();
    spool.remove();
  });

  const api = async (path: string, init?: { method: string; body: unknown }) => {
    const res = await fetch(`${controller.url}${path}`, {
      method: init?.method ?? 'GET',
      headers: init ? { 'content-type': 'application/json' } : {},
      body: init ? JSON.stringify(init.body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  /** One stream sweep of `target` in `region`; resolves with the full stored report. */
  async function sweep(target: string, region: string, durationS: number, url = hlsUrl): Promise<Report> {
    const put = await api('/v1/targets', {
      method: 'POST',
      body: { id: target, url, protocol: 'hls' },
    });
    expect(put.status).toBe(201);
    const res = await api('/v1/sweeps', {
      method: 'POST',
      body: { targets: [target], regions: [region], probe: 'stream', durationS },
    });
    expect(res.status).toBe(202);
    const { id } = res.body as { id: string };
    await new Promise<void>((resolve) => {
      if (controller.sweeps.get(id)?.state === 'done') return resolve();
      controller.events.on('sweep', (s) => s.id === id && s.state === 'done' && resolve());
    });
    const done = Sweep.parse((await api(`/v1/sweeps/${id}`)).body);
    expect(done.reports).toHaveLength(1);
    const reportId = done.reports[0]?.id;
    const full = (await api(`/v1/results?target=${target}`)).body as { reports: Report[] };
    return full.reports.find((r) => r.id === reportId) as Report;
  }

  it('clock honesty: figures corrected by the measured offset, uncertainty from the round trip, skew counted', async () => {
    const r = await sweep('skew', 'skewed', 12);
    const m = r.metrics;
    expect(m.clock_uncertainty_ms).toBeGreaterThanOrEqual(TIME_DELAY_MS / 2);
    // The round trip on a loaded machine adds to the delay, never takes from it.
    expect(m.clock_uncertainty_ms).toBeLessThan(TIME_DELAY_MS / 2 + 1000);
    expect(Math.abs((m.clock_offset_ms ?? 0) - SKEW_MS)).toBeLessThanOrEqual(m.clock_uncertainty_ms ?? 0);
    // Uncertainty above agent.clockUncertaintyMaxMs (100 ms by default): flagged and said why.
    expect(r.flags).toContain('clock-suspect');
    expect(r.reasons.some((x) => x.startsWith('clock-suspect'))).toBe(true);
    // A healthy testbed publishes each segment a little after PDT + duration: the raw delay is small and
    // positive, so corrected by +60 s it is about -60 s, and every such sample is counted as skew, not clamped.
    const delay = m.segment_availability_delay_p50_ms as number;
    expect(delay).toBeLessThan(-SKEW_MS + 10_000);
    expect(delay).toBeGreaterThan(-SKEW_MS - 2_000);
    expect(m.clock_skew_negative).toBeGreaterThanOrEqual(1);
    // Kept out of latency alerts: the summary has the segment timings but no availability delay figure.
    const summary = (await api('/v1/summary?window=5m&groupBy=target&target=skew')).body as {
      groups: unknown[];
    };
    const g = summary.groups[0] as { metrics: Record<string, { of?: string; count: number }> } | undefined;
    // The probe's report carries its samples; the summary's segment figures are of them.
    expect(r.sketches?.segment_ttfb_ms).toBeDefined();
    expect(g?.metrics.segment_ttfb_p50_ms?.of).toBe('samples');
    expect(g?.metrics.segment_ttfb_p50_ms?.count).toBe(m.segments_total);
    expect(g?.metrics.segment_availability_delay_p50_ms).toBeUndefined();
  }, 120_000);

  it('honest percentiles: /v1/summary p95 is of the samples in ingested report sketches, and says so', async () => {
    // Through the real path: JetStream publish -> controller ingest -> aggregator -> HTTP. Eight reports,
    // each of 100 segment downloads (90 at 100 ms, a tail of 10 at 2000 ms): every report's own median is
    // 100 ms, so a p95 of report medians would say 100 ms; 10 % of the segments took 2 s.
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    const samples = [...Array.from({ length: 90 }, () => 100), ...Array.from({ length: 10 }, () => 2000)];
    const sketches = sketchesOf({ segment_download_ms: samples });
    for (let i = 0; i < 8; i++) {
      const r = makeReport({ jobId: `pct-${i}`, region: 'skewed', targetId: 'pct' });
      await publisher.publish({
        ...r,
        metrics: { segment_download_p50_ms: 100, segments_total: 100 },
        ...(sketches ? { sketches } : {}),
      });
    }
    const group = await waitFor('the eight reports in the summary', async () => {
      const body = (await api('/v1/summary?window=5m&groupBy=target&target=pct')).body as {
        groups: { count: number; metrics: Record<string, { p95: number; count: number; of?: string }> }[];
      };
      const g = body.groups[0];
      return g && g.count === 8 ? g : undefined;
    });
    const dl = group.metrics.segment_download_p50_ms;
    expect(dl?.of).toBe('samples');
    expect(dl?.count).toBe(800);
    expect(dl?.p95).toBeGreaterThanOrEqual(1980);
    expect(dl?.p95).toBeLessThanOrEqual(2020);
    await publisher.stop();
  });

  it('self-watch: a starved agent stopped mid re-fetch on a healthy stream says inconclusive, no stream finding, no page', async () => {
    // The agent pinned to one core beside a CPU burner (the issue's starved agent), and made late on cue:
    // the proxy in front of the healthy testbed SIGSTOPs it when it receives its 3rd master re-fetch, answers
    // that request at once (the answer waits in the agent's socket), and SIGCONTs it only after the agent's
    // own 4 s playlist timeout has passed; then the same for the next segment GET, past its 2 s duration. On
    // resume the agent's timers run before it reads the socket: a punctual probe would have had both in
    // milliseconds; this one sees a timed-out re-fetch and a slow segment.
    const burner = spawn('taskset', ['-c', '0', process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' });
    children.push(burner);
    const agent = spawn('taskset', ['-c', '0', process.execPath, distEntry('agent/testing/busy-agent.js')], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        LIVEPROBE_REGION: 'starved',
        LIVEPROBE_AGENT_ID: 'starved-1',
        LIVEPROBE_HEARTBEAT_S: String(HEARTBEAT_S),
        LIVEPROBE_EGRESS_ALLOW: LOOPBACK_RULES.join(','),
        LIVEPROBE_SPOOL_DIR: spool.path,
        LIVEPROBE_LOG_LEVEL: 'warn',
        BUSY_BLOCK_MS: '0',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(agent);
    const offline: string[] = [];
    controller.events.on('agent', (e) => {
      if (e.agentId === 'starved-1' && e.status === 'offline') offline.push(new Date().toISOString());
    });
    await waitFor(
      'the starved agent online',
      async () =>
        ((await api('/v1/agents')).body as { agentId: string; status: string }[]).some(
          (a) => a.agentId === 'starved-1' && a.status === 'online',
        ),
      60_000,
    );
    const master = new URL(hlsUrl);
    const proxy = await stopOnCueProxy(master, agent.pid as number, [
      // The 3rd master re-fetch, held past the agent's playlist timeout: manifest-unavailable (timeout).
      {
        what: 'master',
        match: (p) => p === master.pathname,
        nth: 1 + 2,
        overdueMs: PLAYLIST_TIMEOUT_MS + 1500,
      },
      // Then the next segment GET, held past its 2 s duration: segment-slow.
      { what: 'segment', match: (p) => p.endsWith('.ts'), nth: 1, overdueMs: SEGMENT_MS + 1500 },
    ]);
    try {
      const r = await sweep('starved', 'starved', 18, `${proxy.url}${master.pathname}`);
      // Both cues were played (a cue's SIGCONT comes before anything the agent can report after it).
      expect(proxy.played).toEqual(['master', 'segment']);
      // The lateness really did produce findings: a re-fetch timed out although its answer was there, and a
      // segment that had arrived in full looked slower than real time.
      const mu = r.findings.find((f) => f.code === 'manifest-unavailable');
      expect(mu?.evidence).toMatch(/no response \(timeout after \d+ ms\)/);
      expect(r.findings.map((f) => f.code)).toContain('segment-slow');
      // ...and the report says it is ours, with the cause, instead of failing the stream.
      const why = JSON.stringify({ reasons: r.reasons, selfCheck: r.selfCheck });
      expect(r.outcome, why).toBe('probe-error');
      expect(r.flags).toContain('inconclusive');
      expect(r.reasons[0]).toMatch(
        /^inconclusive: the probe's event loop ran up to \d+ ms late .*could explain .*(manifest-unavailable.*segment-slow|segment-slow.*manifest-unavailable)/,
      );
      expect(r.selfCheck?.late).toBe(true);
      expect(r.selfCheck?.loop_lag_max_ms).toBeGreaterThanOrEqual(1500);
      expect(r.selfCheck?.cause).toMatch(/event loop ran up to \d+ ms late/);
    } finally {
      await proxy.close();
      await kill9(burner);
    }
    const summary = (await api('/v1/summary?window=5m&groupBy=target&target=starved')).body as {
      groups: { findings: Record<string, number>; outcomes: Record<string, number> }[];
    };
    expect(summary.groups[0]?.findings).toEqual({});
    expect(summary.groups[0]?.outcomes.failed).toBe(0);
    expect(summary.groups[0]?.outcomes['probe-error']).toBe(1);
    // The shipped rules page on one region's playlist-stale finding at once (for: 0s), and the conformance
    // rule counts any finding: after an evaluation that saw the report, nothing may be firing or pending.
    // The agent never went offline, so no offline inhibition is what kept the page away.
    await controller.alerting.run('tick');
    await controller.alerting.idle();
    const alerts = (await api('/v1/alerts')).body as { labels: Record<string, string> }[];
    expect(alerts.filter((a) => a.labels.target === 'starved')).toEqual([]);
    expect(offline).toEqual([]);
  }, 180_000);
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers/procs.js';
import { SweepRequest } from './api.js';
import { clockBlockCentre, clockCheckWord, decodeClockBits, encodeClockBits } from './clock.js';
import { ConfigError, loadConfig } from './config.js';
import { adHocTargetId } from './ids.js';
import { redactUrl, redactUrlsIn } from './log.js';
import { Heartbeat, Job, Report, Target } from './schemas.js';
import { names } from './subjects.js';

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('has working defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.nats.url).toBe('nats://127.0.0.1:4222');
    expect(c.agent.capacity).toEqual({ browser: 2, stream: 100 });
    expect(c.controller).toMatchObject({ host: '127.0.0.1', port: 8080, tokens: [] });
  });

  it('layers file < env < flags', () => {
    const dir = tempDir('cfg');
    const file = join(dir.path, 'c.yaml');
    writeFileSync(file, 'agent:\n  region: eu-west\n  capacity: { browser: 4 }\ncontroller:\n  port: 9000\n');
    const c = loadConfig({
      file,
      env: { LIVEPROBE_PORT: '9100', NATS_URL: 'nats://n:4222' },
      overrides: { 'controller.port': 9200 },
    });
    expect(c.agent.region).toBe('eu-west');
    expect(c.agent.capacity.browser).toBe(4);
    expect(c.controller.port).toBe(9200);
    expect(c.nats.url).toBe('nats://n:4222');
    dir.remove();
  });

  it('names the bad key and where it came from', () => {
    const err = configError(() => loadConfig({ env: { LIVEPROBE_CAPACITY_BROWSER: 'lots' } }));
    expect(err.message).toMatch(/agent\.capacity\.browser: .*\(from env LIVEPROBE_CAPACITY_BROWSER\)/);
    const region = configError(() => loadConfig({ env: { LIVEPROBE_REGION: 'eu.west' } }));
    expect(region.message).toContain('agent.region');
  });

  it('rejects unknown keys in a file instead of ignoring them', () => {
    const dir = tempDir('cfg');
    const file = join(dir.path, 'c.json');
    writeFileSync(file, JSON.stringify({ agent: { regoin: 'x' } }));
    const err = configError(() => loadConfig({ file, env: {} }));
    expect(err.message).toContain(`agent.regoin: unknown key (from file ${file})`);
    writeFileSync(file, '[1, 2]');
    expect(configError(() => loadConfig({ file, env: {} })).message).toContain('expected a mapping');
    dir.remove();
  });

  it('reports a missing file clearly', () => {
    expect(configError(() => loadConfig({ file: '/nonexistent/liveprobe.yaml', env: {} })).message).toContain(
      '/nonexistent/liveprobe.yaml',
    );
  });
});

describe('schemas', () => {
  const target = { id: 'testbed', url: 'http://127.0.0.1:8090/hls/master.m3u8', protocol: 'hls' as const };

  it('accepts a minimal target and fills defaults', () => {
    expect(Target.parse(target)).toEqual({ ...target, labels: {}, expectations: {} });
  });

  it('rejects ids that cannot be a NATS subject token and non-http URLs', () => {
    expect(Target.safeParse({ ...target, id: 'a.b' }).success).toBe(false);
    expect(Target.safeParse({ ...target, id: 'a b' }).success).toBe(false);
    expect(Target.safeParse({ ...target, url: 'file:///etc/passwd' }).success).toBe(false);
  });

  it('validates jobs, heartbeats and reports', () => {
    const now = new Date().toISOString();
    const job = Job.parse({
      id: 'j1',
      target,
      region: 'eu',
      probe: 'browser',
      durationS: 15,
      createdAt: now,
    });
    expect(job.mode).toBe('check');
    expect(Job.safeParse({ ...job, durationS: 0 }).success).toBe(false);
    expect(
      Heartbeat.safeParse({
        agentId: 'a1',
        region: 'eu',
        version: '1',
        startedAt: now,
        at: now,
        capacity: { browser: 2, stream: 10 },
        running: { browser: 0, stream: 0 },
        jobs: [],
      }).success,
    ).toBe(true);
    const report = {
      id: 'j1:0',
      jobId: 'j1',
      seq: 0,
      target,
      region: 'eu',
      agentId: 'a1',
      probe: 'browser',
      mode: 'check',
      startedAt: now,
      endedAt: now,
      outcome: 'ok',
      reasons: [],
      latency_method: 'stamp',
      metrics: { startup_ms: 812, g2g_p50_ms: 4100, pdt_latency_p50_ms: 4090, stall_count: 0 },
      version: '0.1.0',
    };
    expect(Report.parse(report).metrics.startup_ms).toBe(812);
    expect(Report.safeParse({ ...report, metrics: { startup_ms: -1 } }).success).toBe(false);
    expect(Report.safeParse({ ...report, metrics: { rebuffer_ratio: 2 } }).success).toBe(false);
    expect(Report.safeParse({ ...report, outcome: 'meh' }).success).toBe(false);
  });

  it('sweep requests take ids or ad hoc URLs', () => {
    const r = SweepRequest.parse({
      targets: ['testbed', { url: target.url, protocol: 'hls' }],
      regions: ['local'],
    });
    expect(r.probe).toBe('browser');
    expect(r.durationS).toBe(30);
    expect(SweepRequest.safeParse({ targets: [], regions: ['local'] }).success).toBe(false);
  });
});

describe('in-frame clock codec', () => {
  it('round-trips epoch ms and rejects a single flipped bit', () => {
    for (const ms of [1, 1_700_000_000_123, 2 ** 48 - 1, Date.now()]) {
      const bits = encodeClockBits(ms);
      expect(bits).toHaveLength(64);
      expect(decodeClockBits(bits, clockCheckWord)).toBe(ms);
      for (const i of [0, 17, 47, 50, 63]) {
        const bad = [...bits];
        bad[i] = bad[i] ? 0 : 1;
        expect(decodeClockBits(bad, clockCheckWord)).toBeNull();
      }
    }
    expect(decodeClockBits(new Array(64).fill(0), clockCheckWord)).toBeNull();
  });

  it('places blocks in two rows across the top of the frame', () => {
    expect(clockBlockCentre(0)).toEqual({ x: 0.5 / 32, y: 0.25 * (64 / 360) });
    expect(clockBlockCentre(63).x).toBeCloseTo(31.5 / 32);
    expect(clockBlockCentre(63).y).toBeCloseTo(0.75 * (64 / 360));
  });
});

describe('names and redaction', () => {
  it('derives subjects and stream names from the prefix', () => {
    const n = names('lp');
    expect(n.jobs('eu')).toBe('lp.jobs.eu');
    expect(n.results('eu', 'a1', 't1')).toBe('lp.results.eu.a1.t1');
    expect(n.resultsFilter(undefined, 't1')).toBe('lp.results.*.*.t1');
    expect(n.jobsStream).toBe('LP_JOBS');
    expect(names().resultsStream).toBe('LIVEPROBE_RESULTS');
  });

  it('redacts query values and userinfo but keeps the path', () => {
    expect(redactUrl('https://u:p@cdn.example/live/seg1.ts?token=abc&exp=1')).toBe(
      'https://redacted@cdn.example/live/seg1.ts?token=redacted&exp=redacted',
    );
    expect(redactUrl('http://o/a.m3u8')).toBe('http://o/a.m3u8');
  });

  it('redacts every URL inside a child process log line', () => {
    expect(
      redactUrlsIn(
        "srt://gw:9000?passphrase=s3cret&latency=200: Connection refused (from 'rtmps://u:pw@ingest/app?token=t')",
      ),
    ).toBe(
      "srt://gw:9000?passphrase=redacted&latency=redacted Connection refused (from 'rtmps://redacted@ingest/app?token=redacted')",
    );
    expect(redactUrlsIn('Input #0, mpegts, from pipe:0')).toBe('Input #0, mpegts, from pipe:0');
  });

  it('gives ad hoc URLs a stable subject-safe id', () => {
    const a = adHocTargetId('http://x/a.m3u8');
    expect(a).toBe(adHocTargetId('http://x/a.m3u8'));
    expect(a).not.toBe(adHocTargetId('http://x/b.m3u8'));
    expect(a).toMatch(/^adhoc-[0-9a-f]{12}$/);
  });
});

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopChild } from '../../cli/children.js';
import { Sweep } from '../../shared/api.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import { waitFor } from '../helpers/fleet.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';

/**
 * The image's contract without the image (no container engine here): the install tree laid out as the
 * Dockerfile lays out /app, owned by root and read-only to the processes; the controller and an agent run
 * as uid 1000 (setpriv) with the Dockerfile's ENV (parsed from the Dockerfile itself, its /var/lib/liveprobe
 * paths moved to a temporary directory owned by uid 1000). They start, the agent launches Chromium with
 * LIVEPROBE_CHROMIUM_ARGS, a browser sweep of the live testbed completes.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const UID = 1000;
/** Running as uid 1000 takes root; setpriv (util-linux) and ffmpeg are declared dependencies and must exist. */
const isRoot = process.getuid?.() === 0;

/** The ENV instructions of the runtime stage: KEY=VALUE pairs, continuation lines, quoted values. */
function dockerfileEnv(text: string): Record<string, string> {
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  const joined = runtime.replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const kv of (m[1] as string).matchAll(/([A-Z_][A-Z0-9_]*)=("([^"]*)"|(\S+))/g)) {
      env[kv[1] as string] = kv[3] ?? (kv[4] as string);
    }
  }
  return env;
}

it('the tools the image contract runs with are installed (setpriv, ffmpeg)', () => {
  expect(spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status).toBe(0);
  expect(spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status).toBe(0);
});

describe.skipIf(!isRoot)('image contract: uid 1000, read-only install tree, the Dockerfile env', () => {
  const work = tempDir('lp-image');
  const app = join(work.path, 'app');
  const data = join(work.path, 'var', 'lib', 'liveprobe');
  const logger = createLogger('image', 'warn');
  const token = 'image-contract-admin-token-0123456789';
  let nats: Awaited<ReturnType<typeof startNats>>;
  let testbed: Testbed;
  let controller: ChildProcess;
  let agent: ChildProcess;
  let controllerUrl = '';
  let agentUrl = '';
  const output: string[] = [];
  let imageFlags: string[] = [];

  const asUid = (args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const child = spawn(
      'setpriv',
      [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', process.execPath, ...args],
      { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => output.push(d.toString()));
    return child;
  };
  const api = (path: string, init?: RequestInit) =>
    fetch(`${controllerUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init?.body ? { 'content-type': 'application/json' } : {}),
      },
    });

  beforeAll(async () => {
    // The install tree, as the Dockerfile's runtime stage copies it; root-owned, not writable by uid 1000.
    chmodSync(work.path, 0o755);
    mkdirSync(app, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'probes', 'browser', 'harness'), join(app, 'probes', 'browser', 'harness'), {
      recursive: true,
    });
    cpSync(join(ROOT, 'deploy', 'rules.yaml'), join(app, 'deploy', 'rules.yaml'));
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
    for (const d of ['spool', 'tmp', 'home']) mkdirSync(join(data, d), { recursive: true });
    for (const d of [join(work.path, 'var'), join(work.path, 'var', 'lib'), data]) chmodSync(d, 0o755);
    for (const d of [data, ...['spool', 'tmp', 'home'].map((x) => join(data, x))]) chownSync(d, UID, UID);

    const imageEnv = dockerfileEnv(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    imageFlags = (imageEnv.LIVEPROBE_CHROMIUM_ARGS ?? '').split(/\s+/).filter(Boolean);
    expect(imageFlags.length).toBeGreaterThan(3);
    const moved = Object.fromEntries(
      Object.entries(imageEnv).map(([k, v]) => [k, v.replaceAll('/var/lib/liveprobe', data)]),
    );
    // Only what a container would have: no developer env leaks in.
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...moved,
      // The testbed is on loopback, which the default egress policy refuses.
      LIVEPROBE_EGRESS_ALLOW: LOOPBACK_RULES.join(','),
    };

    nats = await startNats();
    testbed = await startTestbed({ port: 0, ladder: 'single', logger });
    const controllerPort = await freePort();
    controller = asUid([join(app, 'dist', 'cli', 'main.js'), 'controller'], {
      ...base,
      NATS_URL: nats.url,
      LIVEPROBE_PORT: String(controllerPort),
      // The image binds 0.0.0.0, where the API refuses to start without tokens.
      LIVEPROBE_TOKENS: `test:admin:${token}`,
      LIVEPROBE_LOG_LEVEL: 'warn',
    });
    controllerUrl = `http://127.0.0.1:${controllerPort}`;
    const agentPort = await freePort();
    agent = asUid([join(app, 'dist', 'cli', 'main.js'), 'agent'], {
      ...base,
      NATS_URL: nats.url,
      LIVEPROBE_REGION: 'image',
      LIVEPROBE_AGENT_ID: 'image-1',
      LIVEPROBE_CAPACITY_BROWSER: '1',
      LIVEPROBE_AGENT_HTTP_HOST: '127.0.0.1',
      LIVEPROBE_AGENT_HTTP_PORT: String(agentPort),
      LIVEPROBE_LOG_LEVEL: 'warn',
    });
    agentUrl = `http://127.0.0.1:${agentPort}`;
    const up = (url: string) => () =>
      fetch(url).then(
        (r) => r.ok,
        () => false,
      );
    await waitFor(
      'the controller (uid 1000) to answer /healthz',
      up(`${controllerUrl}/healthz`),
      60_000,
      250,
    );
    await waitFor('the agent (uid 1000) to answer /healthz', up(`${agentUrl}/healthz`), 60_000, 250);
  }, 120_000);

  afterAll(async () => {
    if (agent) await stopChild(agent, 'SIGTERM', 15_000);
    if (controller) await stopChild(controller, 'SIGTERM', 10_000);
    await testbed?.stop();
    await nats?.stop();
    work.remove();
  });

  it('runs as uid 1000 on a tree it cannot write', () => {
    for (const child of [controller, agent]) {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      // setpriv execs node in place: the spawned pid is the node process.
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(UID));
    }
    const writable = spawnSync('setpriv', [
      `--reuid=${UID}`,
      `--regid=${UID}`,
      '--clear-groups',
      'test',
      '-w',
      app,
    ]);
    expect(writable.status).not.toBe(0);
    // The agent made its spool (lock and segment files) in the image's writable data directory.
    const spool = join(data, 'spool');
    expect(readdirSync(spool).length).toBeGreaterThan(0);
    for (const f of readdirSync(spool)) expect(statSync(join(spool, f)).uid).toBe(UID);
  });

  it('a browser sweep completes: the agent launched Chromium with the image flags', async () => {
    const stream = testbed.streams.find((s) => s.protocol === 'hls');
    await waitFor(
      'the agent to be online',
      async () => ((await (await api('/v1/agents')).json()) as unknown[]).length === 1,
      60_000,
      250,
    );
    const res = await api('/v1/sweeps', {
      method: 'POST',
      body: JSON.stringify({
        targets: [{ id: 'testbed', url: stream?.url, protocol: 'hls' }],
        regions: ['image'],
        probe: 'browser',
        durationS: 8,
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const sweep = await waitFor(
      'the sweep to complete',
      async () => {
        const s = Sweep.parse(await (await api(`/v1/sweeps/${id}`)).json());
        return s.state === 'done' ? s : undefined;
      },
      120_000,
      500,
    );
    const report = sweep.reports[0];
    expect(report?.outcome, `${report?.reasons.join('; ')}\n${output.join('').slice(-2000)}`).toBe('ok');
    expect(report?.metrics.startup_ms).toBeGreaterThan(0);
    // The browser the agent keeps for its next job: a child of the agent, uid 1000, launched with exactly
    // the image's flags (LIVEPROBE_CHROMIUM_ARGS).
    const browsers = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .flatMap((p) => {
        try {
          const status = readFileSync(`/proc/${p}/status`, 'utf8');
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
          return /^PPid:\s+(\d+)/m.exec(status)?.[1] === String(agent.pid) && /chrom/.test(cmd[0] ?? '')
            ? [{ uid: /^Uid:\s+(\d+)/m.exec(status)?.[1], cmd }]
            : [];
        } catch {
          return [];
        }
      });
    expect(browsers).toHaveLength(1);
    expect(browsers[0]?.uid).toBe(String(UID));
    for (const flag of imageFlags) expect(browsers[0]?.cmd).toContain(flag);
    const metrics = await (await fetch(`${agentUrl}/metrics`)).text();
    expect(metrics).toMatch(/^liveprobe_agent_browser_healthy\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^liveprobe_agent_jobs_completed_total\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^liveprobe_agent_nats_connected\{[^}]*\} 1$/m);
  }, 150_000);
});

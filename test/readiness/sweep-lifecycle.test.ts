import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/index.js';
import { StandInProber } from '../../agent/testing/stand-in.js';
import type { Sweep } from '../../shared/api.js';
import { names } from '../../shared/subjects.js';
import { chaosLogger, REGION, spawnController, startStandInAgent } from '../chaos/harness.js';
import { waitHttp } from '../helpers/cli.js';
import { distEntry, kill9, waitFor } from '../helpers/fleet.js';
import { freePort, startNats, stopProcess, tempDir } from '../helpers/procs.js';
import { json, lp } from './cli.js';

// Sweeps that last: a controller process killed -9 and restarted mid-sweep (the CLI following it all along),
// and cancel (queued jobs dropped from the work queue, running ones stopped on the agent). Stand-in probers:
// what is exercised is the sweep's life, not playback.
describe('readiness sweeps: restart-safe, cancellable, driven by the CLI', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let ctl: ChildProcess;
  let agent: Agent;
  let nc: NatsConnection;
  const stream = new StandInProber('stream');
  const spool = tempDir('ready-spool');
  const files = tempDir('ready-fleet');
  let env: NodeJS.ProcessEnv;
  let url: string;

  beforeAll(async () => {
    nats = await startNats();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = {
      NATS_URL: nats.url,
      LIVEPROBE_PORT: String(port),
      LIVEPROBE_HEARTBEAT_S: '1',
      LIVEPROBE_EGRESS_ALLOW: '127.0.0.0/8',
    };
    ctl = spawnController(env);
    await waitHttp(`${url}/readyz`, 60_000);
    agent = await startStandInAgent({
      servers: [nats.url],
      id: 'ready-a',
      spoolDir: spool.path,
      logger: chaosLogger('ready'),
      capacity: 2,
      probers: { stream },
    });
    nc = await connect({ servers: nats.url });
    const targets = Array.from({ length: 6 }, (_, i) => ({
      id: `ch${i}`,
      url: `http://127.0.0.1:9/ch${i}.m3u8`,
      protocol: 'hls',
      labels: { event: 'final', cdn: i % 2 ? 'akamai' : 'fastly' },
    }));
    writeFileSync(join(files.path, 'fleet.json'), JSON.stringify({ targets }));
    const applied = await lp(['apply', '-f', files.path, '--url', url]);
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor('the agent online', async () => {
      const agents = (await (await fetch(`${url}/v1/agents`)).json()) as { status: string }[];
      return agents.some((a) => a.status === 'online');
    });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await agent?.stop({ graceMs: 0 });
    if (ctl) await stopProcess(ctl);
    await nats?.stop();
    spool.remove();
    files.remove();
  });

  it('completes a sweep with every report when its controller is killed -9 and restarted mid-sweep', async () => {
    const runsBefore = stream.runs.length;
    // The CLI follows the sweep across the restart: it keeps asking while the controller is down.
    const args = [
      'sweep',
      'run',
      '-l',
      'event=final',
      '--region',
      REGION,
      '--probe',
      'stream',
      '--duration',
      '3',
      '--name',
      'restart drill',
      '--event',
      'final',
      '--follow',
      '-o',
      'json',
      '--url',
      url,
    ];
    let accepted = false;
    const following = lp(args, {}, 240_000, (err) => {
      accepted ||= / job\(s\) in /.test(err);
    });
    // Killed once the CLI has the sweep's id (the 202) and probes run: a kill before the 202 would be a
    // failed request, not a sweep surviving a restart.
    await waitFor(
      'the sweep accepted and two probes running',
      () => accepted && stream.runs.length >= runsBefore + 2,
      60_000,
    );
    await kill9(ctl);
    // Reports keep coming while no controller runs: they wait in the results stream.
    await waitFor('every probe to have run', () => stream.runs.length >= runsBefore + 6, 60_000);
    ctl = spawnController(env);
    const run = await following;
    expect(run.code, run.stderr).toBe(0);
    const sweep = json<Sweep>(run);
    expect(sweep).toMatchObject({
      state: 'done',
      expected: 6,
      received: 6,
      verdict: 'go',
      name: 'restart drill',
    });
    expect(new Set(sweep.reports.map((r) => r.target.id))).toEqual(
      new Set(['ch0', 'ch1', 'ch2', 'ch3', 'ch4', 'ch5']),
    );
    expect(sweep.cells?.map((c) => c.verdict)).toEqual(Array(6).fill('go'));
  }, 180_000);

  it('draws progress bars and a boxed, coloured verdict table on a terminal', async () => {
    await waitHttp(`${url}/readyz`, 60_000);
    // script(1) gives the CLI a real pseudo-terminal, as an operator's shell would.
    const cmd = [
      process.execPath,
      distEntry('cli/main.js'),
      'sweep',
      'run',
      '-l',
      'cdn=akamai',
      '--region',
      REGION,
      '--probe',
      'stream',
      '--duration',
      '2',
      '--follow',
      '--url',
      url,
    ].join(' ');
    const tty = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, out }));
    });
    expect(tty.code, tty.out).toBe(0);
    // Without the terminal's escape sequences (colours, cursor moves).
    const plain = tty.out.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
    expect(plain).toMatch(/chaos\s+\[[█░]+\] 3\/3 reports/); // the region's bar, complete
    expect(tty.out).toContain('\u001b[1;32mGO  sweep'); // bold green headline
    expect(plain).toMatch(/┌.*┐/); // a boxed table
    expect(plain).toMatch(/│ ch1\s+│ chaos\s+│ GO/);
  }, 120_000);

  it('cancel drops the queued jobs and stops the running ones', async () => {
    await waitHttp(`${url}/readyz`, 60_000);
    const runsBefore = stream.runs.length;
    // 4 jobs of 120 s on 2 slots: 2 run, 2 wait in the work queue.
    const started = await lp([
      'sweep',
      'run',
      '--target',
      'ch0',
      '--target',
      'ch1',
      '--target',
      'ch2',
      '--target',
      'ch3',
      '--region',
      REGION,
      '--probe',
      'stream',
      '--duration',
      '120',
      '-o',
      'json',
      '--url',
      url,
    ]);
    expect(started.code, started.stderr).toBe(0);
    const { id } = json<{ id: string }>(started);
    await waitFor('two jobs running', () => stream.runs.length >= runsBefore + 2, 60_000);
    const cancelled = await lp(['sweep', 'cancel', id, '--url', url]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain('cancelled');
    // Nothing of the sweep is left in the work queue (queued and in-flight job messages deleted).
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(names('liveprobe').jobsStream)).state.messages).toBe(0);
    // The running jobs end long before their 120 s.
    await waitFor(
      'the agent to run nothing',
      async () => {
        const agents = (await (await fetch(`${url}/v1/agents`)).json()) as {
          heartbeat: { jobs: string[] };
        }[];
        return agents.every((a) => a.heartbeat.jobs.length === 0);
      },
      30_000,
      200,
    );
    const got = await lp(['sweep', 'get', id, '-o', 'json', '--url', url]);
    const sweep = json<Sweep>(got);
    expect(sweep.state).toBe('cancelled');
    expect(stream.runs.length).toBe(runsBefore + 2);
    // A cancelled sweep never reads as GO.
    expect(sweep.verdict).toBe('no-go');
    expect(got.code).toBe(2);
  }, 120_000);
});

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distEntry, waitFor } from '../helpers/fleet.js';
import { freePort, tempDir } from '../helpers/procs.js';

/** PIDs whose process group is `pgid` (Linux /proc). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields: state ppid pgrp ...; a zombie is gone for our purpose (its parent reaps it).
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

// What a new user does: `liveprobe demo`, read the banner, Ctrl-C. The terminal sends SIGINT to the whole
// process group (nats-server, ffmpeg and Chromium get it too); everything must be gone within 10 s.
describe('demo: human output and Ctrl-C', () => {
  it('prints the banner and result (JSON logs in the data dir), and stops every process on SIGINT to its group', async () => {
    const data = tempDir('ready-demo');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [distEntry('cli/main.js'), 'demo', '--port', String(port), '--data-dir', data.path, '--duration', '3'],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'info' },
      },
    );
    const pgid = child.pid as number;
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    try {
      await waitFor(
        'the demo to print its result',
        () => stdout.includes('Ctrl-C stops every process'),
        180_000,
        200,
      ).catch((err: Error) => {
        // Once seen in a full CI run only (it passes alone in ~13 s): say where the demo stood.
        const logPath = join(data.path, 'demo.log');
        const tail = existsSync(logPath)
          ? readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n')
          : '';
        throw new Error(`${err.message}\n--- demo stdout ---\n${stdout}\n--- demo.log tail ---\n${tail}`);
      });
      expect(stdout.split('\n')[0]).toMatch(/^Command center: http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(stdout).toContain('liveprobe demo is up:');
      expect(stdout).toMatch(/verdict (GO|WARN|NO-GO)/);
      // Logs went to the file, not the terminal.
      expect(stdout).not.toMatch(/^\{"level"/m);
      const log = readFileSync(join(data.path, 'demo.log'), 'utf8');
      expect(log.split('\n')[0]).toMatch(/^\{"level":\d+/);
      // The agent's spool belongs to this data dir (a new data dir starts without old reports).
      expect(existsSync(join(data.path, 'spool'))).toBe(true);
      const before = groupMembers(pgid);
      expect(before.length).toBeGreaterThan(2); // node, nats-server, ffmpeg (+ Chromium)
      process.kill(-pgid, 'SIGINT');
      await waitFor('every process of the demo to exit', () => groupMembers(pgid).length === 0, 10_000, 100);
    } finally {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // all gone
      }
      data.remove();
    }
  }, 240_000);

  it('stops `controller` and `agent` started by hand next to nats-server, all in one terminal group, on SIGINT', async () => {
    const data = tempDir('ready-svc');
    const [natsPort, apiPort] = [await freePort(), await freePort()];
    const main = distEntry('cli/main.js');
    // One shell job, as a terminal runs it: the three processes share the job's process group.
    const script = [
      `nats-server -js -sd ${data.path}/nats -a 127.0.0.1 -p ${natsPort} &`,
      `sleep 1; "${process.execPath}" ${main} controller --port ${apiPort} &`,
      `"${process.execPath}" ${main} agent --region local --id stop-test &`,
      'wait',
    ].join('\n');
    const child = spawn('sh', ['-c', script], {
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        NATS_URL: `nats://127.0.0.1:${natsPort}`,
        LIVEPROBE_SPOOL_DIR: join(data.path, 'spool'),
        LIVEPROBE_LOG_LEVEL: 'warn',
      },
    });
    const pgid = child.pid as number;
    try {
      await waitFor(
        'the agent online at the controller',
        async () => {
          try {
            const agents = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/agents`)).json()) as unknown[];
            return agents.length === 1;
          } catch {
            return false;
          }
        },
        120_000,
        250,
      );
      expect(groupMembers(pgid).length).toBeGreaterThanOrEqual(4); // sh, nats-server, controller, agent
      process.kill(-pgid, 'SIGINT');
      await waitFor('every process of the group to exit', () => groupMembers(pgid).length === 0, 10_000, 100);
    } finally {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // all gone
      }
      data.remove();
    }
  }, 180_000);
});

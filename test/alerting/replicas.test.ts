import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { createLogger } from '../../shared/log.js';
import { names } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { spawnLiveprobe, waitHttp } from '../helpers/cli.js';
import { freePort, startNats, stopProcess, tempDir } from '../helpers/procs.js';
import { failed, report, rulesYaml, sleep, startReceiver, waitFor } from './helpers.js';

const SECRET = 'replica-hmac-secret-0123456789';

/**
 * Controller processes against one nats-server while an alert fires: two replicas page once; the lease
 * holder killed with -9 hands over without a second page; the survivor killed too and a fresh controller
 * started (a restart) pages nothing again; the recovery is announced exactly once.
 */
describe('alerting across replicas and restarts', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let nc: NatsConnection;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir('alerting-replicas');
  const procs = new Map<number, { child: ChildProcess; url: string }>();
  let rulesFile = '';
  const logger = createLogger('test', 'fatal');

  const startReplica = async () => {
    const port = await freePort();
    const child = spawnLiveprobe(['controller', '--port', String(port)], {
      NATS_URL: nats.url,
      LIVEPROBE_RULES_FILE: rulesFile,
      LIVEPROBE_LOG_LEVEL: 'error',
    });
    const entry = { child, url: `http://127.0.0.1:${port}` };
    procs.set(child.pid as number, entry);
    await waitHttp(`${entry.url}/healthz`);
    return entry;
  };
  const kill = async (pid: number) => {
    const p = procs.get(pid);
    if (!p) throw new Error(`no replica ${pid}`);
    await stopProcess(p.child, 'SIGKILL');
    procs.delete(pid);
  };
  /** pid of the replica holding the alerting lease (holder = <host>-<pid>-<random>). */
  const leaderPid = async (): Promise<number | undefined> => {
    const kv = await new Kvm(nc).open('liveprobe_leases');
    const e = await kv.get('alerting');
    if (e?.operation !== 'PUT') return undefined;
    const holder = (decodeJson(e.value) as { holder: string }).holder;
    return Number(/-(\d+)-[0-9a-f]{4}$/.exec(holder)?.[1]);
  };
  const hook = () => receiver.alerts('/hook').filter((a) => a.labels.target === 'r1');

  beforeAll(async () => {
    nats = await startNats();
    receiver = await startReceiver(SECRET);
    rulesFile = join(dir.path, 'rules.yaml');
    writeFileSync(rulesFile, rulesYaml(receiver.url, SECRET, ['hook']));
    await Promise.all([startReplica(), startReplica()]);
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    for (const p of procs.values()) await stopProcess(p.child);
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('pages once through a lease handover and a restart, and resolves once', async () => {
    const publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    let failing = true;
    let stopped = false;
    // The stream is down in two regions: a probe in each reports a failure every 300 ms (and the two
    // replicas share the ingest consumer, so both see some of them).
    const loop = (async () => {
      while (!stopped) {
        for (const region of ['eu', 'us'])
          await publisher.publish(failing ? failed('r1', region) : report('r1', region));
        await sleep(300);
      }
    })();
    try {
      await waitFor('the page', () => hook().length > 0, 30_000);
      const first = await leaderPid();
      expect(first && procs.has(first)).toBe(true);

      // The lease holder dies; the other replica takes the lease (TTL 5 s) and carries on without paging.
      await kill(first as number);
      const second = await waitFor('the lease to move', async () => {
        const pid = await leaderPid();
        return pid !== first && pid !== undefined && procs.has(pid) && pid;
      });
      const survivor = procs.get(second);
      await sleep(4000);
      const view = (await (await fetch(`${survivor?.url}/v1/alerts?target=r1`)).json()) as {
        state: string;
      }[];
      expect(view.map((a) => a.state)).toEqual(['firing']);
      expect(hook().map((a) => a.status)).toEqual(['firing']);

      // Restart: the last replica dies too, a new controller starts, rebuilds its windows from the stream
      // and finds the alert firing and already paged.
      await kill(second);
      const fresh = await startReplica();
      await waitFor('the new controller to lead', async () => (await leaderPid()) === fresh.child.pid);
      await sleep(4000);
      const again = (await (await fetch(`${fresh.url}/v1/alerts?target=r1`)).json()) as { state: string }[];
      expect(again.map((a) => a.state)).toEqual(['firing']);
      expect(hook().map((a) => a.status)).toEqual(['firing']);

      // Recovery.
      failing = false;
      await waitFor('the resolve notice', () => hook().length >= 2, 60_000);
      await sleep(3000);
    } finally {
      stopped = true;
      await loop;
    }
    expect(hook().map((a) => a.status)).toEqual(['firing', 'resolved']);
    expect(new Set(hook().map((a) => a.fingerprint)).size).toBe(1);
    expect(receiver.receipts.filter((r) => r.path === '/hook').every((r) => r.signed)).toBe(true);
  }, 180_000);
});

import type { ChildProcess } from 'node:child_process';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_RULES } from '../shared/egress.js';
import { Job } from '../shared/schemas.js';
import { names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { spawnLiveprobe, waitHttp } from './helpers/cli.js';
import { freePort, startNats, stopProcess } from './helpers/procs.js';

/**
 * Two controller processes share one NATS. A schedule fires every 10 s for two minutes; every tick must
 * produce exactly one sweep, and after the lease holder is killed (-9) firing moves to the other replica
 * within one tick.
 */
describe('schedules across controller replicas', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let nc: NatsConnection;
  const replicas = new Map<number, { child: ChildProcess; url: string }>();

  beforeAll(async () => {
    nats = await startNats();
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      // the test's targets live on loopback, which the egress policy refuses unless allowed
      const child = spawnLiveprobe(['controller', '--port', String(port)], {
        NATS_URL: nats.url,
        LIVEPROBE_EGRESS_ALLOW: LOOPBACK_RULES.join(','),
      });
      replicas.set(child.pid as number, { child, url: `http://127.0.0.1:${port}` });
    }
    for (const r of replicas.values()) await waitHttp(`${r.url}/healthz`);
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    for (const r of replicas.values()) await stopProcess(r.child);
    await nats?.stop();
  });

  it('fires each tick exactly once, and survives the lease holder being killed', async () => {
    const ticks = new Map<number, number>();
    let onTick: () => void = () => undefined;
    nc.subscribe(names().jobs('local'), {
      callback: (_e, msg) => {
        const job = Job.parse(decodeJson(msg.data));
        const tick = Math.round(Date.parse(job.createdAt) / 10_000) * 10;
        ticks.set(tick, (ticks.get(tick) ?? 0) + 1);
        onTick();
      },
    });
    const waitTicks = (n: number) =>
      new Promise<void>((resolve) => {
        onTick = () => ticks.size >= n && resolve();
        onTick();
      });
    const [first] = [...replicas.values()];
    const post = (path: string, body: unknown) =>
      fetch(`${first!.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect(
      (await post('/v1/targets', { id: 'ch1', url: 'http://127.0.0.1:1/a.m3u8', protocol: 'hls' })).status,
    ).toBe(201);
    const bad = await post('/v1/schedules', {
      id: 'bad',
      cron: '*/10 * * *',
      sweep: { targets: ['ch1'], regions: ['local'] },
    });
    expect(bad.status).toBe(400);
    const created = await post('/v1/schedules', {
      id: 'every10s',
      cron: '*/10 * * * * *',
      tz: 'Europe/Paris',
      sweep: { targets: ['ch1'], regions: ['local'], probe: 'stream', durationS: 5 },
    });
    expect(created.status).toBe(201);

    await waitTicks(6);
    const kv = await new Kvm(nc).open('liveprobe_leases');
    const entry = await kv.get('scheduler');
    expect(entry).toBeTruthy();
    const { holder } = entry!.json<{ holder: string }>();
    const pid = Number(holder.split('-').at(-2));
    expect(replicas.has(pid)).toBe(true);
    const killedAt = Date.now();
    await stopProcess(replicas.get(pid)!.child, 'SIGKILL');
    replicas.delete(pid);
    await waitTicks(12);

    const seen = [...ticks.keys()].sort((a, b) => a - b);
    // Exactly one sweep per tick, never two.
    expect([...ticks.values()].every((n) => n === 1)).toBe(true);
    // Consecutive ticks, except at most the one tick around the kill.
    const gaps = seen.slice(1).map((t, i) => t - (seen[i] as number));
    const missed = gaps.reduce((n, g) => n + (g / 10 - 1), 0);
    expect(missed).toBeLessThanOrEqual(1);
    // The survivor took over and kept firing.
    expect(seen.filter((t) => t * 1000 > killedAt).length).toBeGreaterThanOrEqual(5);
  }, 240_000);
});

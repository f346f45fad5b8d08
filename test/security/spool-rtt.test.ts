/**
 * An agent far from NATS (100 ms round trip through a delaying TCP proxy) loses NATS for 60 s while it keeps
 * making 20 reports a second (~1200 reports spooled). Everything made during the outage is spooled; after it, the spool must drain
 * while new reports keep coming (they queue behind it), and nothing may be dropped or duplicated in the
 * stream. A one-at-a-time replay would manage 10 reports/s here and never catch up.
 */
import net from 'node:net';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { Spool } from '../../agent/spool.js';
import { Topology } from '../../controller/state/topology.js';
import { createLogger } from '../../shared/log.js';
import { names as subjectNames } from '../../shared/subjects.js';
import { makeReport, waitFor } from '../helpers/fleet.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';

const ONE_WAY_MS = 50;
/** The outage the issue names (#14: "a spool filling during a 60 s NATS outage at 100 ms RTT"). */
const OUTAGE_MS = 60_000;

/** A TCP proxy that delays every chunk by ONE_WAY_MS each way, and can cut every connection (an outage). */
function delayProxy(target: number) {
  let down = false;
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) =>
    from.on('data', (d) => setTimeout(() => to.writable && to.write(d), ONE_WAY_MS));
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    pipe(client, upstream);
    pipe(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    server,
    setDown(v: boolean) {
      down = v;
      if (v) for (const s of sockets) s.destroy();
    },
  };
}

describe('spool replay at 100 ms RTT after an outage', () => {
  const logger = createLogger('test', 'silent');
  const names = subjectNames('liveprobe');
  const store = tempDir('rtt-store');
  const spoolDir = tempDir('rtt-spool');
  let nats: Awaited<ReturnType<typeof startNats>>;
  let admin: NatsConnection;
  let far: NatsConnection;
  let proxy: ReturnType<typeof delayProxy>;

  beforeAll(async () => {
    nats = await startNats({ storeDir: store.path });
    admin = await connect({ servers: nats.url });
    await new Topology({
      jsm: await jetstreamManager(admin),
      names,
      logger,
      resultsMaxAgeH: 1,
    }).ensureStreams();
    proxy = delayProxy(nats.port);
    const port = await freePort();
    proxy.server.listen(port, '127.0.0.1');
    far = await connect({
      servers: `nats://127.0.0.1:${port}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 0,
    });
  });

  afterAll(async () => {
    await far?.close();
    await admin?.close();
    proxy?.server.close();
    await nats?.stop();
    store.remove();
    spoolDir.remove();
  });

  it('spools through the outage, then catches up while new reports keep coming; nothing lost', async () => {
    const spool = new Spool({ dir: spoolDir.path, name: 'far-agent', maxBytes: 64 << 20, logger });
    spool.open();
    const publisher = new JetStreamPublisher({
      js: jetstream(far),
      nc: far,
      names,
      logger,
      spool,
      ackTimeoutMs: 2000,
    });
    publisher.start();
    let made = 0;
    const failures: string[] = [];
    const inFlight = new Set<Promise<unknown>>();
    const make = () => {
      const r = makeReport({ jobId: `far${made++}`, region: 'eu', targetId: 'ch1', agentId: 'far-agent' });
      const p = publisher.publish(r).catch((e: Error) => failures.push(e.message));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    const producer = setInterval(make, 50); // 20 reports/s, all along
    try {
      await waitFor('some reports stored directly', () => publisher.stats.published >= 20, 20_000);
      proxy.setDown(true);
      await waitFor('the publisher to see the outage', () => !publisher.connected, 20_000);
      // The outage itself: nothing to await but time.
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      expect(publisher.stats.spoolDepth).toBeGreaterThan((OUTAGE_MS / 1000) * 10);
      proxy.setDown(false);
      const backAt = Date.now();
      const madeAtReturn = made;
      // The backlog of the outage is gone while reports keep coming; what stays is the round trip's worth
      // of new reports that queue behind the spool (20/s x 100 ms = 2), never a growing backlog.
      const backlog = publisher.stats.spoolDepth;
      await waitFor(
        'the backlog to drain while reports keep coming',
        () => publisher.stats.spoolDepth <= 10,
        60_000,
      );
      // New reports kept being made (and accepted) while the backlog replayed.
      expect(made - madeAtReturn).toBeGreaterThan(0);
      console.log(
        JSON.stringify({ backlog, catchUpMs: Date.now() - backAt, newDuringCatchUp: made - madeAtReturn }),
      );
    } finally {
      clearInterval(producer);
    }
    await Promise.all([...inFlight]);
    await waitFor('the last spooled reports out', () => publisher.stats.spoolDepth === 0, 30_000);
    expect(failures).toEqual([]);
    expect(publisher.stats.dropped).toBe(0);
    const info = await (await jetstreamManager(admin)).streams.info(names.resultsStream);
    expect(info.state.messages).toBe(made);
    console.log(JSON.stringify({ made, ...publisher.stats }));
    await publisher.stop();
  }, 180_000);
});

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher, ReportDroppedError } from '../../agent/publisher.js';
import { Spool } from '../../agent/spool.js';
import { Topology } from '../../controller/state/topology.js';
import { createLogger } from '../../shared/log.js';
import { names as subjectNames } from '../../shared/subjects.js';
import { makeReport, waitFor } from '../helpers/fleet.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';

/**
 * The publisher across a real nats-server outage: reports made while the server is down go to the on-disk
 * spool and reach the stream after it is back, in order, once each, with their original msg ids.
 */
describe('publisher: spool while NATS is down, replay on reconnect', () => {
  const logger = createLogger('publisher-spool', 'silent');
  const names = subjectNames('liveprobe');
  const store = tempDir('nats-store');
  const spoolDir = tempDir('spool');
  let port: number;
  let nats: Awaited<ReturnType<typeof startNats>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    port = await freePort();
    nats = await startNats({ port, storeDir: store.path });
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    await new Topology({ jsm: await jetstreamManager(nc), names, logger, resultsMaxAgeH: 1 }).ensureStreams();
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    store.remove();
    spoolDir.remove();
  });

  it('spools during the outage and replays in order with the same msg ids', async () => {
    const spool = new Spool({ dir: spoolDir.path, name: 'agent-1', maxBytes: 1 << 20, logger });
    spool.open();
    const js = jetstream(nc);
    const publisher = new JetStreamPublisher({ js, nc, names, logger, spool, ackTimeoutMs: 1000 });
    publisher.start();
    const report = (i: number) => makeReport({ jobId: `job${i}`, region: 'eu', targetId: 'ch1' });

    for (let i = 0; i < 3; i++) expect(await publisher.publish(report(i))).toBe('stored');

    await nats.stop();
    await waitFor('the publisher to see the disconnect', () => !publisher.connected);
    for (let i = 3; i < 13; i++) expect(await publisher.publish(report(i))).toBe('spooled');
    expect(publisher.stats).toMatchObject({ spooled: 10, spoolDepth: 10, dropped: 0 });

    nats = await startNats({ port, storeDir: store.path });
    await waitFor('the spool to drain', () => publisher.stats.spoolDepth === 0, 30_000);
    // Once the backlog is out, new reports take the direct path again.
    expect(await publisher.publish(report(13))).toBe('stored');
    // A retry of an already stored report is recognised, not stored twice.
    expect(await publisher.publish(report(5))).toBe('duplicate');

    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(names.resultsStream);
    expect(info.state.messages).toBe(14);
    const ids: string[] = [];
    for (let seq = 1; seq <= 14; seq++) {
      const m = await jsm.streams.getMessage(names.resultsStream, { seq });
      ids.push(m?.header.get('Nats-Msg-Id') ?? '');
    }
    expect(ids).toEqual(Array.from({ length: 14 }, (_, i) => `job${i}:0`));
    expect(publisher.stats).toMatchObject({ spooled: 10, replayed: 10, dropped: 0, duplicates: 1 });
    await publisher.stop();
  });

  it('counts and reports a drop when the spool is full, never silently', async () => {
    const spool = new Spool({ dir: spoolDir.path, name: 'agent-2', maxBytes: 1500, logger });
    spool.open();
    const publisher = new JetStreamPublisher({ js: jetstream(nc), nc, names, logger, spool });
    publisher.start();
    await nats.stop();
    await waitFor('the publisher to see the disconnect', () => !publisher.connected);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        outcomes.push(
          await publisher.publish(makeReport({ jobId: `full${i}`, region: 'eu', targetId: 'ch1' })),
        );
      } catch (err) {
        expect(err).toBeInstanceOf(ReportDroppedError);
        outcomes.push('dropped');
      }
    }
    expect(outcomes.filter((o) => o === 'spooled').length).toBeGreaterThan(0);
    expect(outcomes.slice(-1)).toEqual(['dropped']);
    const s = publisher.stats;
    expect(s.spooled + s.dropped).toBe(5);
    expect(s.dropped).toBe(outcomes.filter((o) => o === 'dropped').length);
    nats = await startNats({ port, storeDir: store.path });
    await waitFor('the spool to drain', () => publisher.stats.spoolDepth === 0, 30_000);
    await publisher.stop();
  });
});

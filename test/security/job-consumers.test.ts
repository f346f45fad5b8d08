/**
 * Job consumers are bounded: none is created for a region no agent has announced (a watch or a queued-ahead
 * sweep naming a made-up region leaves no consumer behind), and a region's consumer that nobody pulls from
 * is removed by JetStream (inactive_threshold) and re-created when its region shows up again. A consumer an
 * agent keeps pulling from outlives the threshold several times over.
 */
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topology } from '../../controller/state/topology.js';
import { createLogger } from '../../shared/log.js';
import { names as subjectNames } from '../../shared/subjects.js';
import { waitFor } from '../helpers/fleet.js';
import { startNats } from '../helpers/procs.js';

const IDLE_S = 2;

describe('job consumers: only for known regions, removed when idle', () => {
  const names = subjectNames('liveprobe');
  const known = new Set<string>(['eu-west']);
  let nats: Awaited<ReturnType<typeof startNats>>;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let topology: Topology;

  const exists = async (region: string) =>
    jsm.consumers.info(names.jobsStream, names.jobsConsumer(region)).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    topology = new Topology({
      jsm,
      names,
      logger: createLogger('test', 'silent'),
      resultsMaxAgeH: 1,
      jobConsumerIdleS: IDLE_S,
      isKnownRegion: (r) => known.has(r),
    });
    await topology.ensureStreams();
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('refuses a consumer for a region no agent announced; creates one for a known region', async () => {
    expect(await topology.ensureRegion('made-up-1')).toBe(false);
    expect(await exists('made-up-1')).toBe(false);
    // a job for it still queues (and waits for an agent of that region)
    await jetstream(nc).publish(names.jobs('made-up-1'), '{}');
    expect(await topology.ensureRegion('eu-west')).toBe(true);
    const info = await jsm.consumers.info(names.jobsStream, names.jobsConsumer('eu-west'));
    expect(info.config.inactive_threshold).toBe(IDLE_S * 1e9);
    // a heartbeat from a new region's agent is what makes a region known
    expect(await topology.ensureRegion('ap-south', true)).toBe(true);
    expect(await exists('ap-south')).toBe(true);
  });

  it('an idle consumer is removed by JetStream and re-created on demand; a pulled-from one stays', async () => {
    const js = jetstream(nc);
    const pulled = await js.consumers.get(names.jobsStream, names.jobsConsumer('ap-south'));
    // an agent of ap-south keeps a pull request open (as agent/updater.ts does), renewed every second
    let pulling = true;
    const puller = (async () => {
      while (pulling) await pulled.next({ expires: 1000 }).catch(() => undefined);
    })();
    try {
      await waitFor('idle eu-west consumer removed', async () => !(await exists('eu-west')), 30_000);
      // by then ap-south has outlived the threshold while pulled from
      expect(await exists('ap-south')).toBe(true);
      // the cached answer expires (IDLE_S / 4): then the consumer is created again
      await waitFor(
        'eu-west re-created',
        async () => (await topology.ensureRegion('eu-west', true)) && exists('eu-west'),
        10_000,
      );
      expect(await exists('eu-west')).toBe(true);
    } finally {
      pulling = false;
      await puller;
    }
  }, 45_000);
});

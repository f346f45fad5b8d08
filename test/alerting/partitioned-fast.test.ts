import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { type Controller, startController } from '../../controller/index.js';
import type { Cluster } from '../../controller/partition/cluster.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { names } from '../../shared/subjects.js';
import { freePort, startPartitionedNats, tempDir } from '../helpers/procs.js';
import { failed, report, rulesYaml, startReceiver, waitFor } from './helpers.js';

const SECRET = 'partitioned-fast-secret-0123456789';
const N = 4;
const TARGET = 'slow-routine';

/**
 * Partitioned, the lease holder's routine pass asks the replicas to evaluate its scope, and they answer
 * within their work credit, between ingest turns: seconds while they catch up. A real nats-server with the
 * partition mapping and a real partitioned controller (it owns every partition); the routine pass's answer
 * is held back by wrapping the cluster's evaluateAlerts (the answer itself is the real one, asked for at
 * the time), so the test decides how slow the replicas are.
 */
describe('partitioned alerting: a problem never waits for a routine pass’s replicas', () => {
  let nats: Awaited<ReturnType<typeof startPartitionedNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir('partitioned-fast');

  let sent = 0;
  /** Publishes and waits until the windows hold them (partitioned ingest emits no per-report event). */
  const publish = async (reports: Report[]) => {
    for (const r of reports) await publisher.publish(r);
    sent += reports.length;
    await waitFor('the reports ingested', async () => {
      const res = await fetch(`${controller.url}/v1/summary?window=1h&groupBy=target&target=${TARGET}`);
      const body = (await res.json()) as { groups: { count: number }[] };
      return (body.groups[0]?.count ?? 0) >= sent;
    });
  };
  const hook = () => receiver.alerts('/hook').filter((a) => a.labels.target === TARGET);
  const alertState = async () => {
    const res = await fetch(`${controller.url}/v1/alerts?target=${TARGET}`);
    const list = (await res.json()) as { state: string }[];
    return list[0]?.state;
  };

  beforeAll(async () => {
    receiver = await startReceiver(SECRET);
    const rules = join(dir.path, 'rules.yaml');
    writeFileSync(rules, rulesYaml(receiver.url, SECRET, ['hook']));
    nats = await startPartitionedNats(dir.path, N);
    const config = loadConfig({
      env: { LIVEPROBE_PARTITIONS: String(N) },
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'controller.rulesFile': rules,
      },
    });
    controller = await startController({ config, logger: createLogger('test', 'error') });
    nc = await connect({ servers: nats.url });
    publisher = new JetStreamPublisher({
      js: jetstream(nc),
      names: names(),
      logger: createLogger('test', 'error'),
    });
    await waitFor('alerting lease', () => controller.alerting.isLeader);
    // Its first pass seeds what it knows from every partition (once all of them answer).
    await waitFor('a first alert pass', () => controller.alerting.stats.runs > 0);
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await controller?.stop();
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('pages while the routine pass waits for its answer, and that older answer resolves nothing', async () => {
    const cluster = (controller.alerting as unknown as { opts: { cluster: Cluster } }).opts.cluster;
    expect(cluster).toBeDefined();
    const real = cluster.evaluateAlerts.bind(cluster);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let held = 0;
    let released = false;
    // A routine pass (no problem targets) over TARGET: answered now, handed back when the test says.
    cluster.evaluateAlerts = async (rules, targets, totals, hot = []) => {
      const answer = await real(rules, targets, totals, hot);
      if (hot.length === 0 && targets.includes(TARGET) && !released) {
        held++;
        await gate;
      }
      return answer;
    };
    try {
      // Healthy reports: TARGET is in the next routine pass's scope, whose answer (healthy) is held.
      await publish([report(TARGET, 'eu'), report(TARGET, 'us')]);
      await waitFor('a routine pass over the target, held', () => held > 0);
      // The stream fails in both regions meanwhile: the fast pass must page without waiting for it.
      await publish([failed(TARGET, 'eu'), failed(TARGET, 'us'), failed(TARGET, 'eu'), failed(TARGET, 'us')]);
      await waitFor('the page, with the routine pass still held', () =>
        hook().some((a) => a.status === 'firing'),
      );
      expect(released).toBe(false);
      expect(await alertState()).toBe('firing');
      // The routine pass's answer predates the failures: applied, it would resolve the alert.
      const runs = controller.alerting.stats.runs;
      released = true;
      release();
      await waitFor('the held routine pass applied', () => controller.alerting.stats.runs > runs);
      await controller.alerting.idle();
      expect(await alertState()).toBe('firing');
      expect(hook().map((a) => a.status)).toEqual(['firing']);
    } finally {
      released = true;
      release();
      cluster.evaluateAlerts = real;
    }
  }, 60_000);
});

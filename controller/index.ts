import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import { names as subjectNames } from '../shared/subjects.js';
import { connectNats } from '../shared/transport.js';
import { buildApi } from './api/server.js';
import { EventBus } from './events.js';
import { Fleet } from './fleet.js';
import { Ingest } from './ingest.js';
import { ResultsReader } from './results.js';
import { TargetStore } from './state/targets.js';
import { Topology } from './state/topology.js';
import { SweepService } from './sweeps.js';
import { serveTime } from './timeservice.js';

export interface ControllerOptions {
  config: Config;
  logger: Logger;
}

export interface Controller {
  url: string;
  port: number;
  events: EventBus;
  targets: TargetStore;
  sweeps: SweepService;
  ingest: Ingest;
  stop(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** ingest -> (sweeps, events) ; fleet registry ; time service ; HTTP API. */
export async function startController(opts: ControllerOptions): Promise<Controller> {
  const { config } = opts;
  const logger = opts.logger.child({ component: 'controller' });
  const names = subjectNames(config.nats.prefix);
  const nc = await connectNats(config.nats, 'liveprobe-controller', logger);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  const topology = new Topology({ jsm, names, logger, resultsMaxAgeH: config.nats.resultsMaxAgeH });
  await topology.ensureStreams();
  const kv = await new Kvm(js).create(`${config.nats.prefix}_targets`, { history: 5 });
  const targets = new TargetStore(kv, logger);
  await targets.start();

  const events = new EventBus();
  const sweeps = new SweepService({ js, names, targets, topology, events, logger });
  const ingest = new Ingest({
    js,
    names,
    logger,
    onReport: (r) => {
      sweeps.onReport(r);
      events.emit('report', r);
    },
  });
  await ingest.start();
  const fleet = new Fleet({
    nc,
    names,
    logger,
    events,
    offlineAfterMs: config.agent.heartbeatS * 3000,
    // Agents of a new region find their work queue ready when the first job arrives.
    onRegion: (region) =>
      void topology.ensureRegion(region).catch((err) => logger.error({ err, region }, 'region setup failed')),
  });
  fleet.start();
  const timeSub = serveTime(nc, names);

  const results = new ResultsReader(js, jsm, names);
  const app = await buildApi({ sweeps, targets, results, fleet, ready: () => !nc.isClosed() }, logger);
  if (!LOOPBACK.test(config.controller.host)) {
    logger.warn({ host: config.controller.host }, 'API bound beyond loopback without authentication');
  }
  await app.listen({ host: config.controller.host, port: config.controller.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.controller.port;
  const url = `http://${config.controller.host.includes(':') ? `[${config.controller.host}]` : config.controller.host}:${port}`;
  logger.info({ url }, 'controller API listening');

  return {
    url,
    port,
    events,
    targets,
    sweeps,
    ingest,
    async stop() {
      await app.close();
      sweeps.stop();
      fleet.stop();
      timeSub.unsubscribe();
      await ingest.stop();
      await targets.stop();
      await nc.drain().catch(() => undefined);
    },
  };
}

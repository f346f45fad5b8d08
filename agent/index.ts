import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import type { Prober } from '../probes/types.js';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import type { ProbeKind } from '../shared/schemas.js';
import { names as subjectNames } from '../shared/subjects.js';
import { connectNats } from '../shared/transport.js';
import { VERSION } from '../shared/version.js';
import { estimateClockOffset } from './clock.js';
import { HeartbeatSender } from './heartbeat.js';
import { JetStreamPublisher } from './publisher.js';
import { Runner } from './runner.js';
import { Updater } from './updater.js';

export interface AgentOptions {
  config: Config;
  logger: Logger;
  probers: Record<ProbeKind, Prober>;
}

export interface Agent {
  id: string;
  region: string;
  stop(): Promise<void>;
}

export function defaultAgentId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 40);
  return `${host}-${randomBytes(2).toString('hex')}`;
}

/** The fleet runtime: updater (pull jobs) -> runner (probes) -> publisher (reports), plus a heartbeat. */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config } = opts;
  const id = config.agent.id ?? defaultAgentId();
  const region = config.agent.region;
  const logger = opts.logger.child({ agentId: id, region });
  const names = subjectNames(config.nats.prefix);
  const nc = await connectNats(config.nats, `liveprobe-agent-${id}`, logger);
  const js = jetstream(nc);
  const startedAt = new Date().toISOString();

  let clockOffset = await estimateClockOffset(nc, names);
  const offsetTimer = setInterval(async () => {
    clockOffset = (await estimateClockOffset(nc, names)) ?? clockOffset;
  }, 60_000);

  const runner = new Runner({ probers: opts.probers, capacity: { ...config.agent.capacity }, logger });
  const publisher = new JetStreamPublisher({ js, names, logger });
  const updater = new Updater({
    js,
    names,
    region,
    agentId: id,
    runner,
    publisher,
    logger,
    clockOffsetMs: () => clockOffset,
  });
  let draining = false;
  const heartbeat = new HeartbeatSender({
    nc,
    names,
    everyMs: config.agent.heartbeatS * 1000,
    logger,
    snapshot: () => ({
      agentId: id,
      region,
      labels: config.agent.labels,
      version: VERSION,
      startedAt,
      at: new Date().toISOString(),
      ...runner.snapshot(),
      jobs: updater.runningJobs(),
      clockOffsetMs: clockOffset,
      draining,
    }),
  });
  heartbeat.start();
  updater.start();
  logger.info({ capacity: config.agent.capacity, clockOffsetMs: clockOffset }, 'agent started');

  return {
    id,
    region,
    async stop() {
      draining = true;
      heartbeat.beat();
      await updater.stop();
      heartbeat.stop();
      clearInterval(offsetTimer);
      await runner.close();
      await nc.drain().catch(() => undefined);
      logger.info('agent stopped');
    },
  };
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import type { Prober } from '../probes/types.js';
import { type ClockEstimate, type ClockSource, measureClock } from '../shared/clock-offset.js';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import type { Heartbeat, ProbeKind } from '../shared/schemas.js';
import { names as subjectNames } from '../shared/subjects.js';
import { connectNats, decodeJson } from '../shared/transport.js';
import { VERSION } from '../shared/version.js';
import { serveControl } from './control.js';
import { HeartbeatSender } from './heartbeat.js';
import { type AgentHttp, startAgentHttp } from './http.js';
import { JetStreamPublisher, type PublisherStats } from './publisher.js';
import { Runner } from './runner.js';
import { Spool } from './spool.js';
import { Updater } from './updater.js';

export interface AgentOptions {
  config: Config;
  logger: Logger;
  probers: Record<ProbeKind, Prober>;
  /** Where the clock estimate comes from; default: the controller's time service (tests inject a skewed one). */
  clockSource?: ClockSource;
}

export interface Agent {
  id: string;
  region: string;
  /** Stop taking jobs (running ones finish); the heartbeat says `draining`. */
  drain(): void;
  resume(): void;
  /**
   * Graceful stop: take no new jobs, let running ones finish for up to graceMs (default agent.drainGraceS),
   * hand back (nak) the rest, push out the spool if NATS is reachable, close. Idempotent.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
  /** Resolves once the agent has stopped, whether by stop() or a control `stop` request. */
  stopped: Promise<void>;
  stats(): { publisher: PublisherStats; jobs: Updater['stats'] };
  /** Port of the optional HTTP listener (agent.httpPort; 0 picks a free one), when enabled. */
  httpPort?: number;
}

/** Probers that can tell whether their browser is alive (the browser prober) feed the heartbeat. */
type BrowserHealth = NonNullable<Heartbeat['browser']>;
interface HealthReporting {
  health(): BrowserHealth | undefined;
}
const reportsHealth = (p: Prober): p is Prober & HealthReporting =>
  typeof (p as Partial<HealthReporting>).health === 'function';

export function defaultAgentId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 40);
  return `${host}-${randomBytes(2).toString('hex')}`;
}

/** The fleet runtime: updater (pull jobs) -> runner (probes) -> publisher (reports), heartbeat, control. */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config } = opts;
  const id = config.agent.id ?? defaultAgentId();
  const region = config.agent.region;
  const logger = opts.logger.child({ agentId: id, region });
  const names = subjectNames(config.nats.prefix);

  // The spool first: it refuses to start if another live agent holds it, before we take any job.
  let spool: Spool | undefined;
  if (config.agent.spoolMaxMb > 0) {
    spool = new Spool({
      dir: config.agent.spoolDir,
      name: id,
      maxBytes: Math.floor(config.agent.spoolMaxMb * 1024 * 1024),
      logger: logger.child({ component: 'spool' }),
    });
    spool.open();
  }

  // Replies (job pulls, publish acks, the time service) come to this agent's own inbox prefix: the shipped
  // NATS permissions let an agent subscribe to `_INBOX_<id>.>` only, so no agent reads another's replies.
  const nc = await connectNats(config.nats, `liveprobe-agent-${id}`, logger, {
    inboxPrefix: names.agentInbox(id),
  });
  // Behind a leaf node (its own JetStream domain) the job queue is reached in the hub's domain; reports are
  // published to plain subjects and stored by whichever stream captures them (the leaf's, then sourced).
  const js = config.nats.domain ? jetstream(nc, { domain: config.nats.domain }) : jetstream(nc);
  const startedAt = new Date().toISOString();

  const measure: ClockSource = opts.clockSource ?? (() => measureClock(nc, names));
  let clock: ClockEstimate | undefined = await measure();
  let clockOffset = clock?.offsetMs;
  const offsetTimer = setInterval(async () => {
    const next = await measure().catch(() => undefined);
    if (next) {
      clock = next;
      clockOffset = next.offsetMs;
    }
  }, 60_000);

  const runner = new Runner({
    probers: opts.probers,
    capacity: { ...config.agent.capacity },
    logger,
    clock: () => clock,
  });
  const publisher = new JetStreamPublisher({ js, nc, names, logger, spool });
  publisher.start();
  const updater = new Updater({
    js,
    names,
    region,
    agentId: id,
    runner,
    publisher,
    logger,
    clockOffsetMs: () => clockOffset,
    clockUncertaintyMaxMs: config.agent.clockUncertaintyMaxMs,
  });
  const browser = Object.values(opts.probers).find(reportsHealth);
  const heartbeat = new HeartbeatSender({
    nc,
    names,
    everyMs: config.agent.heartbeatS * 1000,
    logger,
    connected: () => publisher.connected,
    snapshot: () => {
      const health = browser?.health();
      return {
        agentId: id,
        region,
        labels: config.agent.labels,
        version: VERSION,
        startedAt,
        at: new Date().toISOString(),
        ...runner.snapshot(),
        jobs: updater.runningJobs(),
        clockOffsetMs: clockOffset,
        draining: updater.draining,
        publisher: publisher.stats,
        ...(health ? { browser: health } : {}),
      };
    },
  });

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  let stopping: Promise<void> | undefined;
  let http: AgentHttp | undefined;
  const stop = (stopOpts: { graceMs?: number } = {}): Promise<void> => {
    stopping ??= (async () => {
      const graceMs = stopOpts.graceMs ?? config.agent.drainGraceS * 1000;
      updater.pause();
      heartbeat.beat(); // announce `draining` at once
      const { finished, handedBack } = await updater.stop(graceMs);
      logger.info({ finished, handedBack }, 'jobs drained');
      if (publisher.connected && !(await publisher.flush(5000))) {
        logger.warn('spool not fully replayed before stop');
      }
      heartbeat.beat();
      heartbeat.stop();
      await http?.close().catch(() => undefined);
      control.unsubscribe();
      watchStops.unsubscribe();
      clearInterval(offsetTimer);
      await runner.close();
      await publisher.stop();
      // Draining a connection whose server is gone (it got the same Ctrl-C) waits out a timeout: close it.
      await (publisher.connected ? nc.drain() : nc.close()).catch(() => undefined);
      logger.info({ publisher: publisher.stats }, 'agent stopped');
      resolveStopped();
    })();
    return stopping;
  };

  const control = serveControl({
    nc,
    names,
    agentId: id,
    logger,
    handlers: {
      drain: () => {
        updater.pause();
        heartbeat.beat();
      },
      resume: () => {
        updater.resume();
        heartbeat.beat();
      },
      stop: () => void stop().catch((err) => logger.error({ err }, 'stop failed')),
      state: () => ({ draining: updater.draining, jobs: updater.runningJobs() }),
    },
  });

  // Broadcast by the controller when a watch is stopped: end its running chunk here (summary reported).
  const watchStops = nc.subscribe(names.watchStop, {
    callback: (_err, msg) => {
      try {
        const { watchId, sweepId } = decodeJson(msg.data) as { watchId?: unknown; sweepId?: unknown };
        if (typeof watchId === 'string') updater.stopWatch(watchId);
        // A cancelled sweep (DELETE /v1/sweeps/:id): its running jobs end now.
        if (typeof sweepId === 'string') updater.stopSweep(sweepId);
      } catch {
        logger.warn('malformed watch-stop message ignored');
      }
    },
  });

  if (config.agent.httpPort !== undefined) {
    http = await startAgentHttp({
      host: config.agent.httpHost,
      port: config.agent.httpPort,
      logger,
      source: {
        id,
        region,
        connected: () => publisher.connected,
        stopping: () => stopping !== undefined,
        draining: () => updater.draining,
        snapshot: () => runner.snapshot(),
        publisher: () => publisher.stats,
        jobs: () => updater.stats,
        browser: () => browser?.health(),
      },
    });
  }

  heartbeat.start();
  updater.start();
  logger.info(
    { capacity: config.agent.capacity, clockOffsetMs: clockOffset, spool: spool?.stats() },
    'agent started',
  );

  return {
    id,
    region,
    drain: () => updater.pause(),
    resume: () => updater.resume(),
    stop,
    stopped,
    stats: () => ({ publisher: publisher.stats, jobs: updater.stats }),
    ...(http ? { httpPort: http.port } : {}),
  };
}

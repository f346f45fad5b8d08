import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import { Heartbeat } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import type { EventBus } from './events.js';

export interface AgentState {
  heartbeat: Heartbeat;
  lastSeen: number;
  status: 'online' | 'offline';
}

export interface FleetOptions {
  nc: NatsConnection;
  names: Names;
  logger: Logger;
  events: EventBus;
  /** An agent is offline after this long without a heartbeat. */
  offlineAfterMs?: number;
  onRegion?: (region: string) => void;
}

/** Online/offline registry built from heartbeats. */
export class Fleet {
  private readonly agents = new Map<string, AgentState>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly opts: FleetOptions) {}

  start(): void {
    this.sub = this.opts.nc.subscribe(this.opts.names.heartbeatAll, {
      callback: (err, msg) => {
        if (err) return;
        let parsed: ReturnType<typeof Heartbeat.safeParse>;
        try {
          parsed = Heartbeat.safeParse(decodeJson(msg.data));
        } catch {
          this.opts.logger.warn({ subject: msg.subject }, 'heartbeat is not JSON; ignored');
          return;
        }
        if (!parsed.success) {
          this.opts.logger.warn(
            { subject: msg.subject, issues: parsed.error.issues.slice(0, 5) },
            'malformed heartbeat',
          );
          return;
        }
        this.observe(parsed.data);
      },
    });
    const offlineAfter = this.opts.offlineAfterMs ?? 15_000;
    this.timer = setInterval(() => this.sweepOffline(offlineAfter), Math.min(1000, offlineAfter / 3));
  }

  observe(hb: Heartbeat, now = Date.now()): void {
    const prev = this.agents.get(hb.agentId);
    this.agents.set(hb.agentId, { heartbeat: hb, lastSeen: now, status: 'online' });
    if (!prev) this.opts.onRegion?.(hb.region);
    if (!prev || prev.status === 'offline') {
      this.opts.logger.info({ agentId: hb.agentId, region: hb.region }, 'agent online');
      this.opts.events.emit('agent', { agentId: hb.agentId, region: hb.region, status: 'online' });
    }
  }

  sweepOffline(offlineAfterMs: number, now = Date.now()): void {
    for (const [id, a] of this.agents) {
      if (a.status === 'online' && now - a.lastSeen > offlineAfterMs) {
        a.status = 'offline';
        this.opts.logger.warn(
          { agentId: id, region: a.heartbeat.region },
          'agent offline (missed heartbeats)',
        );
        this.opts.events.emit('agent', { agentId: id, region: a.heartbeat.region, status: 'offline' });
      }
    }
  }

  list(): AgentState[] {
    return [...this.agents.values()];
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }
}

import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import { type ControlReply, type ControlRequest, Heartbeat, type ProbeKind } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';
import { AgentControl } from './control.js';
import type { EventBus } from './events.js';

export interface AgentState {
  heartbeat: Heartbeat;
  lastSeen: number;
  status: 'online' | 'offline';
}

/** What a region can run now: agents by state, and slots summed over online agents that take jobs. */
export interface RegionCapacity {
  region: string;
  agents: { online: number; offline: number; draining: number };
  /** Slots of online, non-draining agents. */
  capacity: Record<ProbeKind, number>;
  running: Record<ProbeKind, number>;
  free: Record<ProbeKind, number>;
  /** Reports the region's agents could not store or spool (sum of their `publisher.dropped`). */
  dropped: number;
  /** Reports waiting in the region's agents' spools (NATS unreachable from there). */
  spooled: number;
}

export interface FleetOptions {
  nc: NatsConnection;
  names: Names;
  logger: Logger;
  events: EventBus;
  /** An agent is offline after this long without a heartbeat (3 missed beats). */
  offlineAfterMs?: number;
  /** An offline agent is forgotten after this long (bounds the registry). Default 24 h. */
  forgetAfterMs?: number;
  onRegion?: (region: string) => void;
  /** Wait for an agent's control reply this long. Default 3 s. */
  controlTimeoutMs?: number;
}

export class UnknownAgentError extends Error {
  override readonly name = 'UnknownAgentError';
}

const KINDS: ProbeKind[] = ['browser', 'stream'];
const zero = (): Record<ProbeKind, number> => ({ browser: 0, stream: 0 });

/**
 * Online/offline registry built from heartbeats (core NATS, every agent.heartbeatS). Offline = no beat for
 * offlineAfterMs; both transitions are `agent` events on the EventBus (alerting uses offline to inhibit a
 * region's stream alerts). Also the way to reach one agent: drain / resume / stop by request/reply.
 */
export class Fleet {
  private readonly agents = new Map<string, AgentState>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly control: AgentControl;
  constructor(private readonly opts: FleetOptions) {
    this.control = new AgentControl({ nc: opts.nc, names: opts.names, timeoutMs: opts.controlTimeoutMs });
  }

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
        // The subject is what NATS permissions vouch for: a heartbeat claiming another region is ignored.
        if (msg.subject !== this.opts.names.heartbeat(parsed.data.region, parsed.data.agentId)) {
          this.opts.logger.warn({ subject: msg.subject }, 'heartbeat subject does not match its body');
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
    if (!prev || prev.heartbeat.region !== hb.region) this.opts.onRegion?.(hb.region);
    if (!prev || prev.status === 'offline') {
      this.opts.logger.info({ agentId: hb.agentId, region: hb.region }, 'agent online');
      this.opts.events.emit('agent', { agentId: hb.agentId, region: hb.region, status: 'online' });
    }
    const dropped = hb.publisher?.dropped ?? 0;
    if (dropped > (prev?.heartbeat.publisher?.dropped ?? 0)) {
      this.opts.logger.error(
        { agentId: hb.agentId, region: hb.region, dropped },
        'agent dropped reports (spool full or rejected)',
      );
    }
  }

  sweepOffline(offlineAfterMs: number, now = Date.now()): void {
    const forgetAfter = this.opts.forgetAfterMs ?? 24 * 3600_000;
    for (const [id, a] of this.agents) {
      if (a.status === 'online' && now - a.lastSeen > offlineAfterMs) {
        a.status = 'offline';
        this.opts.logger.warn(
          { agentId: id, region: a.heartbeat.region, jobs: a.heartbeat.jobs },
          'agent offline (missed heartbeats)',
        );
        this.opts.events.emit('agent', { agentId: id, region: a.heartbeat.region, status: 'offline' });
      } else if (a.status === 'offline' && now - a.lastSeen > forgetAfter) {
        this.agents.delete(id);
      }
    }
  }

  list(): AgentState[] {
    return [...this.agents.values()];
  }

  get(agentId: string): AgentState | undefined {
    return this.agents.get(agentId);
  }

  /** Per-region capacity, regions sorted by name. */
  regions(): RegionCapacity[] {
    const out = new Map<string, RegionCapacity>();
    for (const a of this.agents.values()) {
      const hb = a.heartbeat;
      let r = out.get(hb.region);
      if (!r) {
        r = {
          region: hb.region,
          agents: { online: 0, offline: 0, draining: 0 },
          capacity: zero(),
          running: zero(),
          free: zero(),
          dropped: 0,
          spooled: 0,
        };
        out.set(hb.region, r);
      }
      r.dropped += hb.publisher?.dropped ?? 0;
      if (a.status === 'offline') {
        r.agents.offline++;
        continue;
      }
      r.spooled += hb.publisher?.spoolDepth ?? 0;
      if (hb.draining) {
        r.agents.draining++;
        for (const k of KINDS) r.running[k] += hb.running[k] ?? 0;
        continue;
      }
      r.agents.online++;
      for (const k of KINDS) {
        r.capacity[k] += hb.capacity[k] ?? 0;
        r.running[k] += hb.running[k] ?? 0;
        r.free[k] += Math.max(0, (hb.capacity[k] ?? 0) - (hb.running[k] ?? 0));
      }
    }
    return [...out.values()].sort((a, b) => a.region.localeCompare(b.region));
  }

  /** Sends a control request to a known agent; throws UnknownAgentError / AgentUnreachableError. */
  async command(agentId: string, action: ControlRequest['action']): Promise<ControlReply> {
    if (!this.agents.has(agentId)) throw new UnknownAgentError(`no agent ${agentId} in the registry`);
    const reply = await this.control.request(agentId, action);
    this.opts.logger.info(
      { agentId, action, draining: reply.draining, jobs: reply.jobs.length },
      'agent control',
    );
    return reply;
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }
}

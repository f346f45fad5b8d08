import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import { InjectorHeartbeat } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';

export interface InjectorState {
  heartbeat: InjectorHeartbeat;
  lastSeen: number;
  status: 'online' | 'offline';
}

export interface InjectorRegistryOptions {
  nc: NatsConnection;
  names: Names;
  logger: Logger;
  /** Offline after this long without a heartbeat. Default 30 s (the injector beats every 5 s). */
  offlineAfterMs?: number;
  /** Forgotten after this long offline (bounds the registry). Default 24 h. */
  forgetAfterMs?: number;
  /** At most this many injectors are tracked (ids are 1..65535; a flood of made-up ids is refused). */
  max?: number;
}

/**
 * Clock-strip injectors (`liveprobe inject`) as the controller knows them, from their heartbeats on
 * `liveprobe.injectors.<id>` (core NATS): where the glass-to-glass clock comes from, so a report with
 * `g2g_injector_id` can say "glass = injector X at site Y", and how each injector is doing (frames painted
 * and passed, added delay, clock offset, uptime).
 */
export class InjectorRegistry {
  private readonly injectors = new Map<number, InjectorState>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: InjectorRegistryOptions) {}

  start(): void {
    this.sub = this.opts.nc.subscribe(this.opts.names.injectorsAll, {
      callback: (err, msg) => {
        if (err) return;
        let parsed: ReturnType<typeof InjectorHeartbeat.safeParse>;
        try {
          parsed = InjectorHeartbeat.safeParse(decodeJson(msg.data));
        } catch {
          this.opts.logger.warn({ subject: msg.subject }, 'injector heartbeat is not JSON; ignored');
          return;
        }
        if (!parsed.success) {
          this.opts.logger.warn(
            { subject: msg.subject, issues: parsed.error.issues.slice(0, 5) },
            'malformed injector heartbeat',
          );
          return;
        }
        // The subject is what NATS permissions vouch for: a body claiming another id is ignored.
        if (msg.subject !== this.opts.names.injector(parsed.data.id)) {
          this.opts.logger.warn(
            { subject: msg.subject },
            'injector heartbeat subject does not match its body',
          );
          return;
        }
        this.observe(parsed.data);
      },
    });
    const offlineAfter = this.opts.offlineAfterMs ?? 30_000;
    this.timer = setInterval(() => this.sweep(offlineAfter), Math.min(5000, offlineAfter / 3));
    this.timer.unref();
  }

  observe(hb: InjectorHeartbeat, now = Date.now()): void {
    const prev = this.injectors.get(hb.id);
    if (!prev && this.injectors.size >= (this.opts.max ?? 1000)) {
      this.opts.logger.warn({ id: hb.id }, 'injector registry full; heartbeat ignored');
      return;
    }
    this.injectors.set(hb.id, { heartbeat: hb, lastSeen: now, status: 'online' });
    if (!prev || prev.status === 'offline')
      this.opts.logger.info({ injector: hb.id, name: hb.name, site: hb.site }, 'injector online');
  }

  sweep(offlineAfterMs: number, now = Date.now()): void {
    const forgetAfter = this.opts.forgetAfterMs ?? 24 * 3600_000;
    for (const [id, s] of this.injectors) {
      if (s.status === 'online' && now - s.lastSeen > offlineAfterMs) {
        s.status = 'offline';
        this.opts.logger.warn(
          { injector: id, name: s.heartbeat.name },
          'injector offline (missed heartbeats)',
        );
      } else if (s.status === 'offline' && now - s.lastSeen > forgetAfter) this.injectors.delete(id);
    }
  }

  get(id: number): InjectorState | undefined {
    return this.injectors.get(id);
  }

  list(): InjectorState[] {
    return [...this.injectors.values()].sort((a, b) => a.heartbeat.id - b.heartbeat.id);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
  }
}

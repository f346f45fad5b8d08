import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import type { Heartbeat } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';

export interface HeartbeatOptions {
  nc: NatsConnection;
  names: Names;
  everyMs: number;
  logger: Logger;
  /** Builds the current heartbeat; called at every beat. */
  snapshot(): Heartbeat;
  /**
   * While this says false the beat is skipped: the client would buffer it and deliver it late on reconnect,
   * and a stale heartbeat is worse than none.
   */
  connected?: () => boolean;
}

/** Core NATS (not JetStream): a missed beat is information, an old one replayed is not. */
export class HeartbeatSender {
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly opts: HeartbeatOptions) {}

  beat(): void {
    if (this.opts.connected && !this.opts.connected()) return;
    const hb = this.opts.snapshot();
    try {
      this.opts.nc.publish(this.opts.names.heartbeat(hb.region, hb.agentId), encodeJson(hb));
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'heartbeat not sent');
    }
  }

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.opts.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

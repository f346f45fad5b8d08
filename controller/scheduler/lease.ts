import type { KV } from '@nats-io/kv';
import type { Logger } from '../../shared/log.js';
import { encodeJson } from '../../shared/transport.js';

export interface LeaseOptions {
  /** A KV bucket whose max_age is the lease TTL: an entry not renewed within it expires. */
  kv: KV;
  key: string;
  holder: string;
  /** How often the holder renews and a follower tries to take over (well inside the TTL). */
  everyMs: number;
  logger: Logger;
}

/**
 * Leader lease on JetStream KV: `create` succeeds only when the key is absent (first taker wins),
 * `update` with the last revision renews it (fails if someone else took it). A dead holder stops renewing
 * and the entry expires after the bucket's TTL, so a follower takes over within TTL + everyMs.
 */
export class Lease {
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private held = false;

  constructor(private readonly opts: LeaseOptions) {}

  isHeld(): boolean {
    return this.held;
  }

  async tick(): Promise<void> {
    const { kv, key, holder } = this.opts;
    const value = encodeJson({ holder, at: Date.now() });
    try {
      if (this.held) this.revision = await kv.update(key, value, this.revision);
      else {
        this.revision = await kv.create(key, value);
        this.opts.logger.info({ key, holder }, 'lease acquired');
      }
      this.held = true;
    } catch {
      if (this.held) this.opts.logger.warn({ key, holder }, 'lease lost');
      this.held = false;
    }
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.everyMs);
  }

  /** Stop renewing and release the key, so another replica takes over at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.held) {
      this.held = false;
      await this.opts.kv.delete(this.opts.key, { previousSeq: this.revision }).catch(() => undefined);
    }
  }
}

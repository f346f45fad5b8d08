import type { KV } from '@nats-io/kv';
import type { Logger } from '../../shared/log.js';
import { encodeJson } from '../../shared/transport.js';
import { assignAll } from './hash.js';

export interface PartitionLeasesOptions {
  /** A KV bucket whose TTL is the lease time: an entry not renewed within it expires. */
  kv: KV;
  replicaId: string;
  partitions: readonly string[];
  leaseMs: number;
  logger: Logger;
  /** Start owning a partition (replay its history, start its consumer). Called once per acquisition. */
  onAcquire: (partition: string) => Promise<void>;
  /** Stop owning it (stop its consumer, drop its state). `lost`: the lease was taken while we slept. */
  onRelease: (partition: string, lost: boolean) => Promise<void>;
}

interface Held {
  revision: number;
  /** When the lease was last written by us (renewal or acquisition), ms. */
  renewedAt: number;
  /** Set once onAcquire finished: the partition's state is complete from here on. */
  ready: boolean;
}

/**
 * Who ingests which partition. Every replica announces itself (`member.<id>`, TTL'd) and computes the same
 * assignment from the same member list (rendezvous hashing: a join or death moves only ~1/k of the
 * partitions). A partition is owned through `owner.<partition>`: `create` succeeds only when the key is
 * absent, so it is never owned twice; the assigned replica takes it as soon as the previous owner released
 * it (a rebalance) or its lease expired (a death: within leaseMs + a tick).
 */
export class PartitionLeases {
  private readonly held = new Map<string, Held>();
  /** Partitions with an acquisition or release under way (serialised per partition). */
  private readonly busy = new Map<string, 'acquire' | 'release'>();
  private members: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: PartitionLeasesOptions) {}

  get tickMs(): number {
    return Math.max(200, Math.floor(this.opts.leaseMs / 4));
  }

  /** Replicas seen alive at the last tick (this one included), sorted. */
  get liveMembers(): readonly string[] {
    return this.members;
  }

  /**
   * Partitions this replica may answer for now: held, complete, and renewed within the lease time (a
   * replica that was frozen past it may have lost them without knowing yet), with the lease revision —
   * the newest owner of a partition has the highest.
   */
  owned(): { partition: string; revision: number }[] {
    const now = Date.now();
    const out: { partition: string; revision: number }[] = [];
    for (const [partition, h] of this.held)
      if (h.ready && now - h.renewedAt < this.opts.leaseMs) out.push({ partition, revision: h.revision });
    return out;
  }

  start(): void {
    const run = () => {
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
      });
    };
    run();
    this.timer = setInterval(run, this.tickMs);
  }

  /** One round: announce, renew, release what belongs elsewhere, take what is ours. */
  async tick(): Promise<void> {
    const { kv, replicaId } = this.opts;
    try {
      await kv.put(`member.${replicaId}`, encodeJson({ at: Date.now() }));
      // A Set: the client's key listing yields a key twice when it is written while being listed (every
      // member renews each round, so it happens), and a member counted twice changes every replica's plan:
      // partitions were released and taken back at once, each time rebuilt from the stream.
      const seen = new Set<string>([replicaId]);
      for await (const k of await kv.keys('member.>')) seen.add(k.slice('member.'.length));
      const members = [...seen].sort();
      if (members.join() !== this.members.join())
        this.opts.logger.info({ members, was: this.members }, 'partition members changed');
      this.members = members;
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'partition membership round failed');
      return;
    }
    const plan = assignAll(this.opts.partitions, this.members);
    for (const partition of this.opts.partitions) {
      if (this.stopped) return;
      const doing = this.busy.get(partition);
      if (doing) {
        // Renew while the partition is being replayed: a long replay must not lose the lease.
        if (doing === 'acquire') await this.renew(partition);
        continue;
      }
      const mine = plan.get(partition) === replicaId;
      if (this.held.has(partition)) {
        if (!(await this.renew(partition))) continue;
        if (!mine) this.work(partition, 'release', () => this.release(partition));
      } else if (mine) {
        this.work(partition, 'acquire', () => this.acquire(partition));
      }
    }
  }

  private work(partition: string, kind: 'acquire' | 'release', fn: () => Promise<void>): void {
    this.busy.set(partition, kind);
    void fn()
      .catch((err) => this.opts.logger.error({ err, partition }, 'partition hand-over step failed'))
      .finally(() => this.busy.delete(partition));
  }

  /** false: the lease is gone (expired and taken, or deleted): the partition is dropped at once. */
  private async renew(partition: string): Promise<boolean> {
    const h = this.held.get(partition);
    if (!h) return false;
    try {
      h.revision = await this.opts.kv.update(
        `owner.${partition}`,
        encodeJson({ holder: this.opts.replicaId, at: Date.now() }),
        h.revision,
      );
      h.renewedAt = Date.now();
      return true;
    } catch {
      this.held.delete(partition);
      this.opts.logger.warn({ partition }, 'partition lease lost; dropping it');
      this.busy.set(partition, 'release');
      await this.opts
        .onRelease(partition, true)
        .catch((err) => this.opts.logger.error({ err, partition }, 'dropping a lost partition failed'))
        .finally(() => this.busy.delete(partition));
      return false;
    }
  }

  private async acquire(partition: string): Promise<void> {
    let revision: number;
    try {
      revision = await this.opts.kv.create(
        `owner.${partition}`,
        encodeJson({ holder: this.opts.replicaId, at: Date.now() }),
      );
    } catch {
      return; // still held by its previous owner: it releases it on its next tick, or its lease expires
    }
    const h: Held = { revision, renewedAt: Date.now(), ready: false };
    this.held.set(partition, h);
    this.opts.logger.info({ partition }, 'partition acquired');
    try {
      await this.opts.onAcquire(partition);
      h.ready = true;
    } catch (err) {
      // Could not start it: give it back so the next tick (here or elsewhere) tries again.
      this.opts.logger.error({ err, partition }, 'partition start failed; releasing it');
      await this.release(partition);
    }
  }

  /** Stops consuming first, then deletes the lease: the next owner never overlaps with this one. */
  private async release(partition: string): Promise<void> {
    const h = this.held.get(partition);
    if (!h) return;
    h.ready = false;
    await this.opts.onRelease(partition, false);
    this.held.delete(partition);
    await this.opts.kv.delete(`owner.${partition}`, { previousSeq: h.revision }).catch(() => undefined);
    this.opts.logger.info({ partition }, 'partition released');
  }

  /** Releases everything (a clean shutdown hands the partitions over at once) and leaves the membership. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    while (this.busy.size) await new Promise((r) => setTimeout(r, 20));
    await this.opts.kv.delete(`member.${this.opts.replicaId}`).catch(() => undefined);
    for (const partition of [...this.held.keys()]) {
      await this.release(partition).catch((err) =>
        this.opts.logger.warn({ err: (err as Error).message, partition }, 'partition release failed'),
      );
    }
  }
}

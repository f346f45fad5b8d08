import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Watch } from '../shared/api.js';
import { adHocTargetId } from '../shared/ids.js';
import type { Logger } from '../shared/log.js';
import type { Job, TargetRef } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson, encodeJson } from '../shared/transport.js';
import type { Lease } from './scheduler/lease.js';
import type { KvCollection } from './state/kvcollection.js';
import type { TargetStore } from './state/targets.js';
import type { Topology } from './state/topology.js';

const ChunkState = z.object({ jobId: z.string(), start: z.number(), until: z.number() });
type ChunkState = z.infer<typeof ChunkState>;

export interface WatchServiceOptions {
  watches: KvCollection<typeof Watch>;
  /** Per watch x region: the chunk (job) currently queued or running, so a restart queues no duplicate. */
  state: KV;
  js: JetStreamClient;
  nc: NatsConnection;
  names: Names;
  targets: TargetStore;
  topology: Topology;
  /** Only the lease holder queues chunks (the scheduler's lease: one replica does the timed work). */
  lease: Lease;
  logger: Logger;
  tickMs?: number;
}

/**
 * Continuous probes as a chain of watch jobs per region. Each job runs chunkS seconds and reports every
 * intervalS; the next chunk is queued shortly before the current one ends (a brief overlap, never a gap).
 * Watches and chunk state live in KV, so they survive controller restarts and move between replicas.
 */
export class WatchService {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  constructor(private readonly opts: WatchServiceOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 2000);
    this.opts.watches.onChange(() => void this.tick());
  }

  resolveTarget(w: Watch): TargetRef | undefined {
    if (typeof w.target !== 'string') {
      return {
        id: w.target.id ?? adHocTargetId(w.target.url),
        url: w.target.url,
        protocol: w.target.protocol,
      };
    }
    const t = this.opts.targets.get(w.target);
    return t && { id: t.id, url: t.url, protocol: t.protocol };
  }

  async chunk(watchId: string, region: string): Promise<ChunkState | undefined> {
    const e = await this.opts.state.get(`${watchId}.${region}`);
    if (e?.operation !== 'PUT') return undefined;
    const parsed = ChunkState.safeParse(safeJson(e.value));
    return parsed.success ? parsed.data : undefined;
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.ticking || !this.opts.lease.isHeld()) return;
    this.ticking = true;
    try {
      for (const w of this.opts.watches.list()) {
        if (!w.enabled) continue;
        const target = this.resolveTarget(w);
        if (!target) {
          this.opts.logger.warn({ watch: w.id, target: w.target }, 'watch target not found; not probing');
          continue;
        }
        for (const region of w.regions) {
          const current = await this.chunk(w.id, region);
          const lead = Math.max(2 * w.intervalS * 1000, 5000);
          if (current && current.until - now > lead) continue;
          await this.enqueue(w, target, region, current && current.until > now ? current.until : now, now);
        }
      }
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'watch tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private async enqueue(
    w: Watch,
    target: TargetRef,
    region: string,
    start: number,
    now: number,
  ): Promise<void> {
    await this.opts.topology.ensureRegion(region);
    const jobId = `watch-${w.id}-${region}-${Math.floor(start / 1000)}`;
    const until = start + w.chunkS * 1000;
    const job: Job = {
      id: jobId,
      watchId: w.id,
      target,
      region,
      probe: w.probe,
      mode: 'watch',
      durationS: Math.round((until - now) / 1000),
      intervalS: w.intervalS,
      createdAt: new Date(now).toISOString(),
      deadline: new Date(until).toISOString(),
      expectations: typeof w.target === 'string' ? (this.opts.targets.get(w.target)?.expectations ?? {}) : {},
      rendition: typeof w.target === 'string' ? this.opts.targets.get(w.target)?.rendition : undefined,
      auth: typeof w.target === 'string' ? this.opts.targets.get(w.target)?.auth : undefined,
    };
    // The msg id makes a re-queue of the same chunk (e.g. by a replica taking over) a no-op.
    await this.opts.js.publish(this.opts.names.jobs(region), encodeJson(job), { msgID: jobId });
    await this.opts.state.put(`${w.id}.${region}`, encodeJson({ jobId, start, until } satisfies ChunkState));
    this.opts.logger.info({ watch: w.id, region, jobId, durationS: job.durationS }, 'watch chunk queued');
  }

  /** Disable or delete: agents abort the running chunk (its summary is still reported). */
  async stop(w: Watch): Promise<void> {
    this.opts.nc.publish(this.opts.names.watchStop, encodeJson({ watchId: w.id }));
    for (const region of w.regions) await this.opts.state.delete(`${w.id}.${region}`).catch(() => undefined);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    return undefined;
  }
}

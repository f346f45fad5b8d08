import { type KV, KvWatchInclude } from '@nats-io/kv';
import type { Logger } from '../../shared/log.js';
import { Target } from '../../shared/schemas.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';

/**
 * Targets persisted in a JetStream KV bucket (survives restarts, shared by controller replicas) with an
 * in-memory copy kept current by a watch, so reads never wait on NATS.
 */
export class TargetStore {
  private readonly cache = new Map<string, Target>();
  private watching: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    // Watch first (updates only), then load: a change made during the load shows up in one or both.
    const iter = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => iter.stop();
    this.watching = (async () => {
      for await (const e of iter) this.apply(e.key, e.operation === 'PUT' ? e.value : undefined);
    })();
    for await (const key of await this.kv.keys()) {
      const e = await this.kv.get(key);
      if (e) this.apply(key, e.operation === 'PUT' ? e.value : undefined);
    }
  }

  private apply(key: string, value: Uint8Array | undefined): void {
    if (!value) {
      this.cache.delete(key);
      return;
    }
    const parsed = Target.safeParse(safeJson(value));
    if (parsed.success) this.cache.set(key, parsed.data);
    else this.logger.warn({ key }, 'stored target failed validation; ignored');
  }

  list(): Target[] {
    return [...this.cache.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): Target | undefined {
    return this.cache.get(id);
  }

  async put(target: Target): Promise<Target> {
    const t = Target.parse(target);
    await this.kv.put(t.id, encodeJson(t));
    this.cache.set(t.id, t);
    return t;
  }

  async delete(id: string): Promise<boolean> {
    if (!this.cache.has(id)) return false;
    await this.kv.delete(id);
    this.cache.delete(id);
    return true;
  }

  async stop(): Promise<void> {
    this.stopWatch?.();
    await this.watching;
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    return undefined;
  }
}

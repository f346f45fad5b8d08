import { type KV, KvWatchInclude } from '@nats-io/kv';
import type { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';

/**
 * The state store did not take a write within the retry budget (a JetStream leader election that outlasts
 * it, a cluster without quorum): the API answers 503 with this message, never a bare "internal error".
 */
export class StoreUnavailable extends Error {
  readonly statusCode = 503;
}

/**
 * How long an idempotent write (put, delete) is retried. Killing a hub node moves the KV stream's leader:
 * measured in test/deploy/topology.test.ts, a delete right after the kill failed while reports already
 * flowed again; an election takes a few seconds.
 */
export const STORE_RETRY_MS = 15_000;

/**
 * A validated collection persisted in a JetStream KV bucket (survives restarts, shared by controller
 * replicas), with an in-memory copy kept current by a watch so reads never wait on NATS. Entries that
 * fail validation (written by a newer or broken version) are logged and skipped, never crash the reader.
 */
export class KvCollection<S extends z.ZodType<{ id: string }>> {
  private readonly cache = new Map<string, z.infer<S>>();
  private watching: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly kv: KV,
    private readonly schema: S,
    private readonly logger: Logger,
    private readonly retryMs = STORE_RETRY_MS,
  ) {}

  /** An idempotent write, retried with backoff until it lands or retryMs has passed. */
  private async write(what: string, id: string, op: () => Promise<unknown>): Promise<void> {
    const until = Date.now() + this.retryMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await op();
        return;
      } catch (err) {
        const msg = (err as Error).message;
        if (Date.now() + wait > until) {
          this.logger.error({ err: msg, key: id, op: what }, 'state store write failed; giving up');
          throw new StoreUnavailable(`state store unavailable (${what} ${id}: ${msg}); retry later`);
        }
        this.logger.warn(
          { err: msg, key: id, op: what, retryInMs: wait },
          'state store write failed; retrying',
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

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

  /** Called after any change, local or from another replica. */
  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  private apply(key: string, value: Uint8Array | undefined): void {
    if (!value) this.cache.delete(key);
    else {
      const parsed = this.schema.safeParse(safeJson(value));
      if (parsed.success) this.cache.set(key, parsed.data);
      else {
        this.logger.warn({ key }, 'stored entry failed validation; ignored');
        return;
      }
    }
    for (const fn of this.listeners) fn();
  }

  list(): z.infer<S>[] {
    return [...this.cache.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): z.infer<S> | undefined {
    return this.cache.get(id);
  }

  async put(item: z.input<S>): Promise<z.infer<S>> {
    const v = this.schema.parse(item);
    await this.write('put', v.id, () => this.kv.put(v.id, encodeJson(v)));
    this.cache.set(v.id, v);
    return v;
  }

  /**
   * Read-modify-write with compare-and-set on the entry's revision, retried when another replica wrote
   * in between. `fn` returns the new value, or undefined to leave the entry as it is.
   */
  async mutate(
    id: string,
    fn: (cur: z.infer<S>) => z.input<S> | undefined,
    tries = 20,
  ): Promise<z.infer<S> | undefined> {
    for (let i = 0; i < tries; i++) {
      const e = await this.kv.get(id);
      if (e?.operation !== 'PUT') return undefined;
      const cur = this.schema.safeParse(safeJson(e.value));
      if (!cur.success) return undefined;
      const next = fn(cur.data);
      if (next === undefined) return cur.data;
      const v = this.schema.parse(next);
      try {
        await this.kv.update(id, encodeJson(v), e.revision);
      } catch (err) {
        if (i === tries - 1) throw err;
        continue; // wrong last sequence: someone else wrote; read again
      }
      this.cache.set(id, v);
      return v;
    }
    return undefined;
  }

  async delete(id: string): Promise<boolean> {
    if (!this.cache.has(id)) return false;
    await this.write('delete', id, () => this.kv.delete(id));
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

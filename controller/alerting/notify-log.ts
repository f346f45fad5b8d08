/**
 * The notification log in JetStream KV: one key per (fingerprint, episode, receiver, what), created when a
 * replica claims the notification and updated with its outcome. `create` succeeds for one caller only, so
 * a notification is sent once however many replicas (or restarts) plan it. A claim that was never marked
 * sent (its sender died) may be re-claimed after `reclaimAfterMs`; the PagerDuty dedup_key and the
 * Alertmanager's own dedup absorb that rare resend.
 */
import { type KV, KvWatchInclude } from '@nats-io/kv';
import type { Logger } from '../../shared/log.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';
import type { NotifiedView } from './group.js';
import type { ClaimLog } from './notify.js';
import { NotificationRecord } from './schema.js';

interface Entry {
  rec: NotificationRecord;
  revision: number;
}

export class NotificationLog implements ClaimLog, NotifiedView {
  private readonly cache = new Map<string, Entry>();
  private stopWatch: (() => void) | undefined;
  private watching: Promise<void> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
    private readonly reclaimAfterMs: () => number,
  ) {}

  async start(): Promise<void> {
    const iter = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => iter.stop();
    this.watching = (async () => {
      for await (const e of iter) this.apply(e.key, e.operation === 'PUT' ? e.value : undefined, e.revision);
    })();
    for await (const key of await this.kv.keys()) {
      const e = await this.kv.get(key);
      if (e) this.apply(key, e.operation === 'PUT' ? e.value : undefined, e.revision);
    }
  }

  private apply(key: string, value: Uint8Array | undefined, revision: number): void {
    if (!value) {
      this.cache.delete(key);
      return;
    }
    const prev = this.cache.get(key);
    if (prev && prev.revision >= revision) return;
    let parsed: ReturnType<typeof NotificationRecord.safeParse>;
    try {
      parsed = NotificationRecord.safeParse(decodeJson(value));
    } catch {
      return;
    }
    if (parsed.success) this.cache.set(key, { rec: parsed.data, revision });
  }

  taken(key: string, now: number): boolean {
    const e = this.cache.get(key);
    if (!e) return false;
    return e.rec.sent_at !== undefined || now - Date.parse(e.rec.claimed_at) < this.reclaimAfterMs();
  }

  claimed(key: string): boolean {
    return this.cache.has(key);
  }

  async claim(key: string, rec: NotificationRecord): Promise<boolean> {
    const prev = this.cache.get(key);
    if (prev && this.taken(key, Date.parse(rec.claimed_at))) return false;
    try {
      const revision = prev
        ? await this.kv.update(key, encodeJson(rec), prev.revision)
        : await this.kv.create(key, encodeJson(rec));
      this.cache.set(key, { rec, revision });
      return true;
    } catch (err) {
      // Someone else created or updated it first: theirs.
      this.logger.debug({ key, err: (err as Error).message }, 'notification already claimed');
      const e = await this.kv.get(key).catch(() => null);
      if (e) this.apply(key, e.operation === 'PUT' ? e.value : undefined, e.revision);
      return false;
    }
  }

  async record(key: string, patch: Partial<NotificationRecord>): Promise<void> {
    const prev = this.cache.get(key);
    if (!prev) return;
    const rec = { ...prev.rec, ...patch };
    try {
      const revision = await this.kv.update(key, encodeJson(rec), prev.revision);
      this.cache.set(key, { rec, revision });
    } catch (err) {
      this.logger.warn({ key, err: (err as Error).message }, 'notification outcome not recorded');
    }
  }

  /** The notifications of one alert, oldest first. */
  forAlert(fingerprint: string): NotificationRecord[] {
    const out: NotificationRecord[] = [];
    for (const [key, e] of this.cache) if (key.startsWith(`${fingerprint}.`)) out.push(e.rec);
    return out.sort((a, b) => a.claimed_at.localeCompare(b.claimed_at));
  }

  async stop(): Promise<void> {
    this.stopWatch?.();
    await this.watching;
  }
}

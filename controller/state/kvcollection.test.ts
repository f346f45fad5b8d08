import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../../shared/log.js';
import { KvCollection, StoreUnavailable } from './kvcollection.js';

const Item = z.object({ id: z.string(), n: z.number() });
const logger = createLogger('kvcollection-test', 'silent');

/** A KV whose writes fail `failures` times (a leader election), then land. Only what the writes touch. */
function flakyKv(failures: number) {
  const stored = new Map<string, Uint8Array>();
  let left = failures;
  const attempts = { put: 0, delete: 0 };
  const fail = () => {
    if (left-- > 0) throw new Error('TIMEOUT');
  };
  const kv = {
    put: async (k: string, v: Uint8Array) => {
      attempts.put++;
      fail();
      stored.set(k, v);
      return 1;
    },
    delete: async (k: string) => {
      attempts.delete++;
      fail();
      stored.delete(k);
    },
  } as unknown as KV;
  return { kv, stored, attempts };
}

describe('KvCollection writes while the store is briefly unavailable', () => {
  it('retries a put and a delete until they land', async () => {
    const { kv, stored, attempts } = flakyKv(2);
    const c = new KvCollection(kv, Item, logger, 5_000);
    await c.put({ id: 'a', n: 1 });
    expect(attempts.put).toBe(3);
    expect(stored.has('a')).toBe(true);
    expect(c.get('a')).toEqual({ id: 'a', n: 1 });
    const { kv: kv2, attempts: a2 } = flakyKv(0);
    const d = new KvCollection(kv2, Item, logger, 5_000);
    await d.put({ id: 'b', n: 2 });
    (kv2 as unknown as { delete: () => Promise<void> }).delete = (() => {
      let n = 0;
      return async () => {
        a2.delete++;
        if (n++ < 1) throw new Error('no responders');
      };
    })();
    expect(await d.delete('b')).toBe(true);
    expect(a2.delete).toBe(2);
    expect(d.get('b')).toBeUndefined();
  });

  it('gives up after its budget with StoreUnavailable (a 503 to the API), leaving the cache untouched', async () => {
    const { kv, attempts } = flakyKv(1_000);
    const c = new KvCollection(kv, Item, logger, 300);
    const err = await c.put({ id: 'a', n: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as StoreUnavailable).statusCode).toBe(503);
    expect((err as Error).message).toMatch(/state store unavailable \(put a: TIMEOUT\)/);
    expect(attempts.put).toBeGreaterThan(1);
    expect(c.get('a')).toBeUndefined();
  });
});

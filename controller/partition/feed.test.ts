import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../shared/log.js';
import { LiveFeed } from './feed.js';

/** A JetStream stand-in: records each consumer's options; a consumer's messages end when it is stopped. */
function fakeJs() {
  const opened: { opt_start_time?: string; deliver_policy?: string }[] = [];
  const js = {
    consumers: {
      get: async (_stream: string, opts: (typeof opened)[number]) => {
        opened.push(opts);
        return {
          delete: async () => true,
          consume: async () => {
            let stop: () => void = () => undefined;
            const done = new Promise<void>((r) => {
              stop = r;
            });
            return {
              stop: () => stop(),
              [Symbol.asyncIterator]: () => ({
                next: async () => {
                  await done;
                  return { done: true, value: undefined };
                },
              }),
            };
          },
        };
      },
    },
  };
  return { js, opened };
}

describe('live feed', () => {
  it('starts a new consumer from when its first listener arrived, not from a listener of an older one', async () => {
    const { js, opened } = fakeJs();
    let listeners = 0;
    let t = Date.UTC(2026, 0, 1, 8);
    const now = vi.spyOn(Date, 'now').mockImplementation(() => t);
    const logger = { debug: vi.fn(), warn: vi.fn(), error: vi.fn() } as unknown as Logger;
    const feed = new LiveFeed({
      js: js as never,
      names: { resultsStream: 'RESULTS', resultsAll: 'lp.results.>' } as never,
      logger,
      onReport: () => undefined,
      wanted: () => listeners > 0,
    });
    try {
      await feed.start();
      listeners = 1;
      feed.poke();
      await vi.waitFor(() => expect(feed.running).toBe(true));
      expect(opened[0]?.opt_start_time).toBe(new Date(t - 250).toISOString());
      // A second client an hour later, while the consumer runs: it is served by that consumer.
      t += 3_600_000;
      listeners = 2;
      feed.poke();
      // Everyone leaves; the consumer closes; a client arrives two hours later.
      listeners = 0;
      await (feed as unknown as { close(): Promise<void> }).close();
      t += 7_200_000;
      listeners = 1;
      feed.poke();
      await vi.waitFor(() => expect(opened).toHaveLength(2));
      expect(opened[1]?.opt_start_time).toBe(new Date(t - 250).toISOString());
    } finally {
      await feed.stop();
      now.mockRestore();
    }
  });
});

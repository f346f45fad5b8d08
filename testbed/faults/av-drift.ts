import { z } from 'zod';
import { SYNC_PERIOD_S } from '../../shared/sync-marker.js';
import { defineFault } from './types.js';

/** Past half a sync period a shift reads as the neighbouring marker: keep a margin below it. */
const MAX_SHIFT_MS = (SYNC_PERIOD_S * 1000) / 2 - 100;

/**
 * The source's audio content plays shiftMs after the picture it belongs to (negative: before), as a capture
 * chain with a misconfigured audio delay would produce. Timestamps stay aligned; the sync tone moves with
 * the content, so a player presents it shiftMs away from the marked frame.
 */
export const avDrift = defineFault({
  type: 'av-drift',
  description: `shifts the source audio by shiftMs against the picture (positive: audio late; |shiftMs| <= ${MAX_SHIFT_MS}); every stream, from capture time on`,
  protocols: ['hls', 'dash'],
  rendition: 'forbidden',
  scope: 'source',
  params: z
    .object({
      shiftMs: z
        .number()
        .int()
        .min(-MAX_SHIFT_MS)
        .max(MAX_SHIFT_MS)
        .refine((v) => v !== 0, 'shiftMs must not be 0')
        .default(400),
    })
    .strict(),
  inject(f, env) {
    env.source.set(f.record.id, { shiftMs: f.params.shiftMs });
    void f.removed.then(() => env.source.clear(f.record.id));
  },
});

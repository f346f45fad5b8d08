import { z } from 'zod';
import { defineFault, inRange, rateHit } from './types.js';

/** Media segments answer 404 (for DASH: the template URL of a Number that should exist). */
export const segment404 = defineFault({
  type: 'segment-404',
  description: 'media segments answer 404 (all, `rate` of them, or $Number$/media sequence fromSeq..toSeq)',
  protocols: ['dash', 'hls'],
  rendition: 'optional',
  params: z
    .object({
      rate: z.number().min(0).max(1).default(1),
      fromSeq: z.number().int().min(0).optional(),
      toSeq: z.number().int().min(0).optional(),
    })
    .strict(),
  plan(f, { ref }) {
    if (ref.kind !== 'segment' || !inRange(ref.seq, f.params.fromSeq, f.params.toSeq)) return undefined;
    return rateHit(f.state, f.params.rate) ? { status: 404 } : undefined;
  },
});

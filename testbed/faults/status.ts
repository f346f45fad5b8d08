import { z } from 'zod';
import { defineFault, inRange, rateHit, Target, targets } from './types.js';

/** Error responses (404/500/503...) for a share of requests or a range of segment numbers. */
export const status = defineFault({
  type: 'status',
  description:
    'answers with `code` instead of the resource: for `rate` of the matching requests (spread evenly, deterministic) and/or segments fromSeq..toSeq',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z
    .object({
      code: z.number().int().min(400).max(599).default(503),
      rate: z.number().min(0).max(1).default(1),
      on: Target.default('segments'),
      fromSeq: z.number().int().min(0).optional(),
      toSeq: z.number().int().min(0).optional(),
    })
    .strict(),
  plan(f, { ref }) {
    const p = f.params;
    if (!targets(p.on, ref.kind) || !inRange(ref.seq, p.fromSeq, p.toSeq)) return undefined;
    return rateHit(f.state, p.rate) ? { status: p.code } : undefined;
  },
});

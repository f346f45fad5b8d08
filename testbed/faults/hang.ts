import { z } from 'zod';
import { defineFault, inRange, Target, targets } from './types.js';

/** Accept the request and never answer; the sockets are closed when the fault is removed. */
export const hang = defineFault({
  type: 'hang',
  description:
    'accepts matching requests and never answers (the connection is dropped when the fault is removed)',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z
    .object({
      on: Target.default('segments'),
      fromSeq: z.number().int().min(0).optional(),
      toSeq: z.number().int().min(0).optional(),
    })
    .strict(),
  plan(f, { ref }) {
    if (!targets(f.params.on, ref.kind) || !inRange(ref.seq, f.params.fromSeq, f.params.toSeq))
      return undefined;
    return { hang: true, hangUntil: f.removed };
  },
});

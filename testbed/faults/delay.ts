import { z } from 'zod';
import { defineFault, inRange, Target, targets } from './types.js';

/** Added latency before the first byte, on playlists and/or segments. */
export const delay = defineFault({
  type: 'delay',
  description: 'adds ms (+ uniform random 0..jitterMs) before the response starts',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z
    .object({
      ms: z.number().int().min(1).max(120_000),
      jitterMs: z.number().int().min(0).max(60_000).default(0),
      on: Target.default('all'),
      fromSeq: z.number().int().min(0).optional(),
      toSeq: z.number().int().min(0).optional(),
    })
    .strict(),
  plan(f, { ref }) {
    const p = f.params;
    if (!targets(p.on, ref.kind) || !inRange(ref.seq, p.fromSeq, p.toSeq)) return undefined;
    return { delayMs: p.ms + (p.jitterMs ? Math.round(Math.random() * p.jitterMs) : 0) };
  },
});

import { z } from 'zod';
import { defineFault } from './types.js';

/** DASH: availabilityStartTime off by offsetMs, so clients compute the wrong live edge. */
export const wrongAst = defineFault({
  type: 'wrong-ast',
  description:
    'DASH: shifts MPD@availabilityStartTime by offsetMs (positive: clients ask for older segments; negative: for segments that do not exist yet)',
  protocols: ['dash'],
  rendition: 'forbidden',
  params: z
    .object({
      offsetMs: z
        .number()
        .int()
        .min(-86_400_000)
        .max(86_400_000)
        .refine((v) => v !== 0, 'offsetMs must not be 0')
        .default(-30_000),
    })
    .strict(),
  editMpd(f, text) {
    return text.replace(/availabilityStartTime="([^"]+)"/, (m, t: string) => {
      const ms = Date.parse(t);
      return Number.isFinite(ms)
        ? `availabilityStartTime="${new Date(ms + f.params.offsetMs).toISOString()}"`
        : m;
    });
  },
});

import { z } from 'zod';
import { defineFault, Target, targets } from './types.js';

/** Caps the response body rate. */
export const throttle = defineFault({
  type: 'throttle',
  description: 'caps the body rate of matching responses to bytesPerSecond',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z
    .object({
      bytesPerSecond: z.number().int().min(100).max(1_000_000_000),
      on: Target.default('segments'),
    })
    .strict(),
  plan(f, { ref }) {
    return targets(f.params.on, ref.kind) ? { throttleBps: f.params.bytesPerSecond } : undefined;
  },
});

import { z } from 'zod';
import { defineFault } from './types.js';

/**
 * Freezes the picture at the source: the painter repeats the last frame it painted (clock strip included),
 * as a stuck camera or a hung graphics engine would. Segments keep flowing with advancing timestamps, so a
 * player keeps playing a picture that does not change. The testbed has one source for all streams, so the
 * picture freezes on every stream; the truth log records `scope: source`.
 */
export const freeze = defineFault({
  type: 'freeze',
  description:
    'repeats the last source frame (picture frozen while segments keep flowing); the one source feeds every stream',
  protocols: ['hls', 'dash'],
  rendition: 'forbidden',
  scope: 'source',
  params: z.object({}).strict(),
  picture: () => 'freeze',
});

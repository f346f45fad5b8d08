import { z } from 'zod';
import { defineFault } from './types.js';

/**
 * Turns the picture black at the source (studio black, clock strip included), as a dead camera input or a
 * black slate would. Segments keep flowing, so a player plays black video. The testbed has one source for all
 * streams, so every stream goes black; the truth log records `scope: source`.
 */
export const black = defineFault({
  type: 'black',
  description: 'paints every source frame black (segments keep flowing); the one source feeds every stream',
  protocols: ['hls', 'dash'],
  rendition: 'forbidden',
  scope: 'source',
  params: z.object({}).strict(),
  picture: () => 'black',
});

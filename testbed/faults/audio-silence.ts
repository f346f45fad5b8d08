import { z } from 'zod';
import { defineFault } from './types.js';

/**
 * The source's audio keeps flowing, every sample 0 (a muted mixer bus): segments still carry the audio track
 * at its bitrate. It acts on the source, so every stream of the testbed goes silent at the same capture time.
 */
export const audioSilence = defineFault({
  type: 'audio-silence',
  description:
    'the source audio becomes digital silence (the track keeps flowing in every stream); takes effect at capture time, so a player hears it one glass-to-glass latency later',
  protocols: ['hls', 'dash'],
  rendition: 'forbidden',
  scope: 'source',
  params: z.object({}).strict(),
  inject(f, env) {
    env.source.set(f.record.id, { silent: true });
    void f.removed.then(() => env.source.clear(f.record.id));
  },
});

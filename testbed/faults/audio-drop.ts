import { z } from 'zod';
import { stripTsAudio } from '../ts-strip.js';
import { defineFault } from './types.js';

/**
 * The audio track is gone from the served segments: audio packets removed and the PMT rewritten without the
 * audio stream, while the master still declares it. Applies to segments requested after injection.
 */
export const audioDrop = defineFault({
  type: 'audio-drop',
  description:
    'removes the audio track from MPEG-TS segments (audio packets dropped, PMT rewritten) while the master still declares audio; HLS TS streams, the whole stream or one rendition',
  protocols: ['hls'],
  rendition: 'optional',
  params: z.object({}).strict(),
  check: ({ stream, rendition }) => {
    if (stream.container !== 'ts')
      return [`audio-drop rewrites MPEG-TS segments; ${stream.id} is ${stream.container}`];
    const r = stream.renditions.find((x) => x.name === rendition);
    const muxed = stream.renditions.length === 1;
    if (r && r.type === 'video' && !muxed)
      return [`rendition ${r.name} carries no audio here (audio is the "audio" rendition)`];
    return [];
  },
  segmentBody: (_f, body, { ref }) => (ref.kind === 'segment' ? stripTsAudio(body) : body),
});

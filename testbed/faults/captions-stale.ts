import { z } from 'zod';
import type { ManifestView } from '../origin.js';
import { defineFault } from './types.js';

/**
 * The captions stop (the picture and sound go on): the twin of a caption inserter that died while the
 * packager kept running. HLS: the subtitle rendition's media playlist is frozen as served at injection.
 * DASH ($Number$ template: the MPD lists text segments by the clock, so there is no playlist to freeze): the
 * text Representation's segments keep coming, but every one after the first served since injection repeats
 * that one's body, i.e. the same old cues, as a packager re-serving its last caption segment does.
 */
export const captionsStale = defineFault({
  type: 'captions-stale',
  description:
    'freezes the WebVTT subtitle rendition, video and audio go on: HLS serves its media playlist as it was at injection (no new cue segment); DASH serves every later text segment with the cues of the first one served after injection',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z.object({}).strict(),
  check: ({ stream, rendition }) => {
    const subs = stream.renditions.filter((r) => r.type === 'subtitles');
    if (subs.length === 0) return [`${stream.id} has no subtitle rendition (use the full ladder)`];
    if (rendition !== undefined && !subs.some((r) => r.name === rendition))
      return [`${rendition} is not a subtitle rendition; one of: ${subs.map((r) => r.name).join(', ')}`];
    return [];
  },
  inject(f, env) {
    const subs = new Set(
      env.stream.renditions.filter((r) => r.type === 'subtitles' && r.playlist).map((r) => r.playlist!),
    );
    const frozen: Record<string, ManifestView> = {};
    for (const path of env.manifests) {
      if (!subs.has(path)) continue;
      const v = env.currentView(path);
      if (v) frozen[path] = v;
    }
    f.state.frozen = frozen;
  },
  freeze: (f, { ref }) => (f.state.frozen as Record<string, ManifestView> | undefined)?.[ref.path],
  segmentBody(f, body, { ref }) {
    if (ref.stream.protocol !== 'dash' || ref.rendition?.type !== 'subtitles' || ref.seq === undefined)
      return body;
    const held = f.state.held as { seq: number; body: Buffer } | undefined;
    if (!held) {
      f.state.held = { seq: ref.seq, body };
      return body;
    }
    return ref.seq > held.seq ? held.body : body;
  },
});

import { z } from 'zod';
import type { ManifestView } from '../origin.js';
import { defineFault } from './types.js';

/**
 * The captions stop: the subtitle rendition's media playlist is frozen as served at injection (the picture
 * and sound go on). The HLS twin of a caption inserter that died while the packager kept running.
 */
export const captionsStale = defineFault({
  type: 'captions-stale',
  description:
    'freezes the WebVTT subtitle rendition: its media playlist is served as it was at injection (no new cue segment), video and audio go on',
  protocols: ['hls'],
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
});

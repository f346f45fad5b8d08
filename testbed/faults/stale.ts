import { z } from 'zod';
import type { ManifestView } from '../origin.js';
import { type ActiveFault, defineFault, type FaultEnv, type RequestCtx } from './types.js';

function freezeAll(f: ActiveFault<unknown>, env: FaultEnv): void {
  const frozen: Record<string, ManifestView> = {};
  for (const path of env.manifests) {
    const v = env.currentView(path);
    if (v) frozen[path] = v;
  }
  f.state.frozen = frozen;
}

function frozenView(f: ActiveFault<unknown>, { ref }: RequestCtx): ManifestView | undefined {
  return (f.state.frozen as Record<string, ManifestView> | undefined)?.[ref.path];
}

/** The media playlist(s) (or the MPD) stop advancing: the copy served at injection is served verbatim. */
export const stale = defineFault({
  type: 'stale',
  description:
    'freezes the media playlist of the rendition (or every media playlist / the MPD of the stream): the copy being served at injection is served unchanged, same Last-Modified',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z.object({}).strict(),
  check: ({ stream, rendition }) =>
    stream.protocol === 'dash' && rendition !== undefined
      ? [
          'a DASH stream has one MPD for all representations; omit rendition (or use segment faults per rendition)',
        ]
      : [],
  inject: freezeAll,
  freeze: frozenView,
});

/** DASH: the MPD stops updating (publishTime and content frozen). */
export const mpdStale = defineFault({
  type: 'mpd-stale',
  description: 'DASH: freezes the MPD as served at injection (publishTime stops, the live edge stops moving)',
  protocols: ['dash'],
  rendition: 'forbidden',
  params: z.object({}).strict(),
  inject: freezeAll,
  freeze: frozenView,
});

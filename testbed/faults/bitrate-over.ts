import { z } from 'zod';
import type { StreamLayout } from '../layout.js';
import type { PlaylistStore } from '../playlists.js';
import { defineFault } from './types.js';

/**
 * The BANDWIDTH the master (HLS) or the MPD (DASH) declares for a rendition, as served now; the ladder's
 * nominal figure when it cannot be read.
 */
export function declaredBandwidth(store: PlaylistStore, stream: StreamLayout, rendition: string): number {
  const r = stream.renditions.find((x) => x.name === rendition);
  const text = store.latest(stream.entry)?.text ?? '';
  if (stream.protocol === 'hls' && r?.playlist) {
    const uri = r.playlist.slice(stream.entry.lastIndexOf('/') + 1);
    const lines = text.split(/\r?\n/);
    const i = lines.findIndex((l) => l.trim() === uri);
    const m = i > 0 ? /[:,]BANDWIDTH=(\d+)/.exec(lines[i - 1]!) : null;
    if (m) return Number(m[1]);
  }
  if (stream.protocol === 'dash' && r?.representationId !== undefined) {
    const m = new RegExp(`<Representation\\b[^>]*\\bid="${r.representationId}"[^>]*>`).exec(text);
    const bw = m ? /\bbandwidth="(\d+)"/.exec(m[0]) : null;
    if (bw) return Number(bw[1]);
  }
  return r?.bandwidth ?? 0;
}

/**
 * A rendition whose segments are far above the BANDWIDTH it declares: each media segment is padded (TS null
 * packets / an fMP4 `free` box, which players skip) to `factor` x the declared BANDWIDTH over its duration.
 * The bytes on the wire are real, so a player's bandwidth estimate and a weak link suffer as from a
 * mis-configured encoder, at the cost of a buffer copy rather than a second encode on the testbed's cores.
 */
export const bitrateOver = defineFault({
  type: 'bitrate-over',
  description:
    "pads the rendition's media segments to `factor` x the BANDWIDTH the master / MPD declares for it (TS null packets, fMP4 free box): the real peak segment bitrate exceeds BANDWIDTH",
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z.object({ factor: z.number().min(1.2).max(20).default(3) }).strict(),
  check: ({ stream, rendition }) => {
    if (rendition === undefined) return ['name the rendition to inflate'];
    const r = stream.renditions.find((x) => x.name === rendition);
    return r && r.type !== 'video' ? [`${rendition} is not a video rendition`] : [];
  },
  inject(f, env) {
    const name = f.record.rendition ?? '';
    f.state.bandwidth = declaredBandwidth(env.store, env.stream, name);
  },
  plan(f, ctx) {
    if (ctx.ref.kind !== 'segment') return undefined;
    const bw = f.state.bandwidth as number;
    if (!bw) return undefined;
    return { pad: { bitsPerSecond: bw * f.params.factor, durationS: ctx.segmentS } };
  },
});

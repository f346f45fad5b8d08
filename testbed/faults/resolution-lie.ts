import { z } from 'zod';
import type { StreamLayout } from '../layout.js';
import { defineFault } from './types.js';

const Dim = z.number().int().min(16).max(8192);

function claimOf(stream: StreamLayout, name: string, p: { width?: number; height?: number }) {
  const r = stream.renditions.find((x) => x.name === name);
  return { r, width: p.width ?? (r?.width ?? 0) * 2, height: p.height ?? (r?.height ?? 0) * 2 };
}

/**
 * A rendition declares a resolution its picture does not have: the master's RESOLUTION (HLS) or the
 * Representation's @width/@height (DASH) is rewritten, the segments are untouched. Players that load the
 * master / MPD after injection get the lie (hls.js reads the master once).
 */
export const resolutionLie = defineFault({
  type: 'resolution-lie',
  description:
    'the master RESOLUTION / MPD @width x @height of one video rendition claims width x height (default: double the real size) while its picture is unchanged; seen by players that load the master / MPD after injection',
  protocols: ['hls', 'dash'],
  rendition: 'optional',
  params: z.object({ width: Dim.optional(), height: Dim.optional() }).strict(),
  check: ({ stream, rendition }) => {
    if (rendition === undefined) return ['name the video rendition that lies (rendition)'];
    const r = stream.renditions.find((x) => x.name === rendition);
    return r && r.type !== 'video' ? [`${rendition} is not a video rendition`] : [];
  },
  editEntry(f, text, { ref }) {
    const name = f.record.rendition;
    if (name === undefined) return text;
    const { r, width, height } = claimOf(ref.stream, name, f.params);
    if (!r) return text;
    if (ref.kind === 'mpd') {
      const id = r.representationId;
      return text.replace(/<Representation\b[^>]*>/g, (tag) =>
        tag.includes(` id="${id}"`)
          ? tag.replace(/\bwidth="\d+"/, `width="${width}"`).replace(/\bheight="\d+"/, `height="${height}"`)
          : tag,
      );
    }
    // HLS master: the STREAM-INF line before the rendition's URI (relative to the master's directory).
    const uri = r.playlist?.slice(ref.stream.id.length + 1);
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      if (lines[i]!.trim() !== uri || !lines[i - 1]!.startsWith('#EXT-X-STREAM-INF:')) continue;
      lines[i - 1] = lines[i - 1]!.replace(/RESOLUTION=\d+x\d+/, `RESOLUTION=${width}x${height}`);
    }
    return lines.join('\n');
  },
});

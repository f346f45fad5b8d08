import { z } from 'zod';
import { formatPdt } from '../hls.js';
import { defineFault, type FaultEnv, nextSeqAtInject } from './types.js';

/** Per covered playlist: the explicit sequence, or the next segment to be published at injection. */
function anchor(explicit: number | undefined, env: FaultEnv): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of env.manifests) {
    const seq = explicit ?? nextSeqAtInject(env, p);
    if (seq !== undefined) out[p] = seq;
  }
  return out;
}

/** EXT-X-MEDIA-SEQUENCE goes backwards by `by` (the segment list is unchanged: a counter reset). */
export const mseqRegress = defineFault({
  type: 'mseq-regress',
  description:
    'serves EXT-X-MEDIA-SEQUENCE lowered by `by` while the segment list stays the same (counter reset)',
  protocols: ['hls'],
  rendition: 'optional',
  params: z.object({ by: z.number().int().min(1).max(100_000).default(3) }).strict(),
  editPlaylist(f, p) {
    p.mediaSequence = Math.max(0, p.mediaSequence - f.params.by);
  },
});

/** Segment(s) missing from the playlist (the files stay on the origin). */
export const dropSegment = defineFault({
  type: 'drop-segment',
  description:
    'removes `count` segments starting at media sequence `seq` (default: the next one published after injection) from the playlist',
  protocols: ['hls'],
  rendition: 'optional',
  params: z
    .object({
      seq: z.number().int().min(0).optional(),
      count: z.number().int().min(1).max(100).default(1),
    })
    .strict(),
  inject(f, env) {
    f.state.from = anchor(f.params.seq, env);
  },
  editPlaylist(f, p, { ref }) {
    const from = (f.state.from as Record<string, number>)[ref.path];
    if (from === undefined) return;
    const to = from + f.params.count;
    const kept = p.segments.filter((s) => s.seq < from || s.seq >= to);
    if (kept.length === p.segments.length) return;
    p.segments = kept;
    // The header names the first listed segment; later ones are implied, as a packager that lost one would.
    if (kept[0]) p.mediaSequence = kept[0].seq;
  },
});

/** EXT-X-DISCONTINUITY before a segment; DISCONTINUITY-SEQUENCE counts it once it slides out. */
export const discontinuity = defineFault({
  type: 'discontinuity',
  description:
    'inserts #EXT-X-DISCONTINUITY before media sequence `seq` (default: the next one); once that segment leaves the window EXT-X-DISCONTINUITY-SEQUENCE is incremented',
  protocols: ['hls'],
  rendition: 'optional',
  params: z.object({ seq: z.number().int().min(0).optional() }).strict(),
  inject(f, env) {
    f.state.at = anchor(f.params.seq, env);
  },
  editPlaylist(f, p, { ref }) {
    const at = (f.state.at as Record<string, number>)[ref.path];
    if (at === undefined) return;
    if (at < p.mediaSequence) {
      p.discontinuitySequence += 1;
      return;
    }
    const seg = p.segments.find((s) => s.seq === at);
    if (seg && !seg.tags.includes('#EXT-X-DISCONTINUITY')) seg.tags.unshift('#EXT-X-DISCONTINUITY');
  },
});

/** PROGRAM-DATE-TIME jumps by offsetMs from a segment on, without a discontinuity. */
export const pdtJump = defineFault({
  type: 'pdt-jump',
  description:
    'shifts EXT-X-PROGRAM-DATE-TIME by offsetMs for segments from media sequence `fromSeq` (default: the next one) on, without a discontinuity',
  protocols: ['hls'],
  rendition: 'optional',
  params: z
    .object({
      offsetMs: z
        .number()
        .int()
        .min(-3_600_000)
        .max(3_600_000)
        .refine((v) => v !== 0, 'offsetMs must not be 0')
        .default(10_000),
      fromSeq: z.number().int().min(0).optional(),
    })
    .strict(),
  inject(f, env) {
    f.state.from = anchor(f.params.fromSeq, env);
  },
  editPlaylist(f, p, { ref }) {
    const from = (f.state.from as Record<string, number>)[ref.path];
    if (from === undefined) return;
    for (const s of p.segments) {
      if (s.seq < from || s.pdt === undefined) continue;
      s.pdt += f.params.offsetMs;
      const i = s.tags.findIndex((t) => t.startsWith('#EXT-X-PROGRAM-DATE-TIME:'));
      if (i >= 0) s.tags[i] = `#EXT-X-PROGRAM-DATE-TIME:${formatPdt(s.pdt)}`;
    }
  },
});

/** #EXT-X-ENDLIST in a live playlist: players stop reloading. */
export const endlist = defineFault({
  type: 'endlist',
  description: 'appends #EXT-X-ENDLIST to the live media playlist(s) (the list keeps advancing underneath)',
  protocols: ['hls'],
  rendition: 'optional',
  params: z.object({}).strict(),
  editPlaylist(_f, p) {
    p.endList = true;
  },
});

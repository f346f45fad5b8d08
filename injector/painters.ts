/**
 * Who paints the strip. `node`: one ffmpeg decodes, Node paints, another ffmpeg encodes (node-paint.ts),
 * so a picture the decoder flags as corrupt goes on unpainted. `ffmpeg`: one ffmpeg process decodes,
 * paints (strip-filter.ts) and encodes; cheaper, but it paints every picture, concealed ones included.
 */
export const PAINTERS = ['node', 'ffmpeg'] as const;
export type Painter = (typeof PAINTERS)[number];
export const DEFAULT_PAINTER: Painter = 'ffmpeg';

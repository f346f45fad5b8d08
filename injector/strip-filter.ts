import {
  CLOCK_COLS,
  clockCheckWord,
  MAX_STRIP_ID,
  STRIP_BAND_HEIGHT,
  type StripPlacement,
} from '../shared/clock.js';

/**
 * The clock offset can be moved while ffmpeg runs (geq takes no commands; lutyuv does): the strip's source
 * passes through `lutyuv@offset`, whose luma is set to OFFSET_BIAS + delta, and geq adds `lum(0,0) -
 * OFFSET_BIAS` ms to the offset baked into its expression. One command (`y`) changes it atomically between
 * two frames, by at most MAX_OFFSET_DELTA_MS either way of the baked offset (a new run bakes the latest).
 */
export const OFFSET_FILTER = 'lutyuv@offset';
export const OFFSET_BIAS = 128;
export const MAX_OFFSET_DELTA_MS = 127;

/** Luma of a 1 / 0 block (studio range, as the testbed paints). */
const WHITE = 235;
const BLACK = 16;

/**
 * The clock strip as an ffmpeg expression for `geq` over a 32x4 image (rows 0-1 clock, row 2 id, row 3
 * cropped away later). The capture time is read once per frame, at its first pixel, from `time(0)` (the
 * host's wall clock when the frame reaches the filter, i.e. right after it is decoded) plus the host's
 * measured offset, and kept in variable 0 for the other 95 blocks; geq must run on one thread so every block
 * of a frame sees that one value. The check word (XORs and rotations, shared/clock.ts) is rebuilt bit by
 * bit: bit k of w0 ^ rotl(w1,5) ^ rotl(hi,11) ^ 0xa5a5 is the parity of the four bits it comes from.
 * Each frame also prints its stamp on stderr (for the injector's own delay measurement).
 */
export function stripExpression(opts: { offsetMs: number; id: number }): string {
  const { offsetMs, id } = opts;
  if (!Number.isInteger(offsetMs)) throw new Error('clock offset must be whole milliseconds');
  if (!Number.isInteger(id) || id < 1 || id > MAX_STRIP_ID) throw new Error(`id must be 1..${MAX_STRIP_ID}`);
  // bit j (0 = LSB) of the stamp
  const b = (j: string) => `mod(floor(ld(0)/pow(2,${j})),2)`;
  const stamp = `st(0,floor(time(0)*1000)${offsetMs >= 0 ? '+' : '-'}${Math.abs(offsetMs)}+lum(0,0)-${OFFSET_BIAS})`;
  const printStamp = 'print(floor(T*90000+0.5),16);print(ld(0),16)';
  // rows 0 and 1 (X < 16): value bit 47 - i, i = Y*32 + X
  const valueBit = b(`47-(Y*${CLOCK_COLS}+X)`);
  // row 1, X >= 16: check bit k = 31 - X
  const k = '(31-X)';
  const checkBit = `mod(${b(k)}+${b(`16+mod(${k}+11,16)`)}+${b(`32+mod(${k}+5,16)`)}+mod(floor(${0xa5a5}/pow(2,${k})),2),2)`;
  const idCheck = clockCheckWord(id);
  const idBit = `if(lt(X,16),mod(floor(${id}/pow(2,15-X)),2),mod(floor(${idCheck}/pow(2,31-X)),2))`;
  const bit = `if(lt(Y,1),${valueBit},if(lt(Y,2),if(lt(X,16),${valueBit},${checkBit}),${idBit}))`;
  return `if(eq(X+Y,0),${stamp};${printStamp},0);if(lt(Y,3),${BLACK}+${WHITE - BLACK}*${bit},${BLACK})`;
}

/** Escapes a value for a filtergraph option (inside single quotes: only ' and \ matter). */
function quote(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "'\\''")}'`;
}

/**
 * The painting filtergraph for the first video stream: a 32x4 strip made by geq, scaled (nearest neighbour; in scale2ref iw/ih are the reference picture,
 * sharp block edges) to the band's size relative to the picture with scale2ref, cut to its 3 rows and laid
 * over the chosen corner. Output label [v].
 */
export function paintGraph(opts: { offsetMs: number; id: number; placement: StripPlacement }): string {
  const { size, corner } = opts.placement;
  const bandH = size * STRIP_BAND_HEIGHT;
  const x = corner.endsWith('right') ? 'main_w-overlay_w' : '0';
  const y = corner.startsWith('bottom') ? 'main_h-overlay_h' : '0';
  return [
    '[0:v:0]format=yuv420p,split=2[m][t]',
    `[t]crop=32:4:0:0,${OFFSET_FILTER}=y=${OFFSET_BIAS}:u=128:v=128,geq=lum=${quote(stripExpression(opts))}:cb=128:cr=128:threads=1[s0]`,
    // 4 strip rows scaled to 4/3 of the band height, the 4th cropped: every row is bandH/3 of the picture.
    `[s0][m]scale2ref=w='trunc(iw*${size}/2)*2':h='trunc(ih*${bandH}*4/3/4)*4':flags=neighbor[s1][m1]`,
    '[s1]crop=iw:ih*3/4:0:0[s2]',
    `[m1][s2]overlay=x=${x}:y=${y}:format=yuv420[v]`,
  ].join(';');
}

import { CLOCK_COLS, encodeStripBits, type StripPlacement, stripPixelRect } from '../shared/clock.js';

/** Luma of a 1 / 0 block and neutral chroma (studio range, as the ffmpeg painter and the testbed paint). */
const WHITE = 235;
const BLACK = 16;
const GREY = 128;

/** One run of bytes to overwrite in a raw I420 picture: at `offset`, `data` (or `fill` over `length`). */
interface Span {
  offset: number;
  length: number;
  row?: number;
}

/**
 * Paints the injector's band into raw I420 pictures as they stream by, chunk by chunk, without holding a
 * picture: the band is a fixed list of byte runs (its luma rows, its chroma rows set to grey), computed
 * once per picture size; each picture gets its three luma row patterns from its stamp and the id.
 */
export class StripPainter {
  private readonly spans: Span[] = [];
  private readonly rows: Buffer[];
  private readonly colOf: Uint16Array;
  private cursor = 0;

  constructor(
    width: number,
    height: number,
    placement: StripPlacement,
    private readonly id: number,
  ) {
    const r = stripPixelRect(placement, width, height);
    if (r.w < CLOCK_COLS || r.rowH < 1)
      throw new Error(`picture ${width}x${height} is too small for the strip`);
    this.rows = [0, 1, 2].map(() => Buffer.alloc(r.w));
    // Nearest-neighbour block of each band column (as ffmpeg's scale flags=neighbor lays the 32 blocks).
    this.colOf = new Uint16Array(r.w);
    for (let x = 0; x < r.w; x++) this.colOf[x] = Math.floor((x * CLOCK_COLS) / r.w);
    for (let y = 0; y < r.h; y++)
      this.spans.push({ offset: (r.y + y) * width + r.x, length: r.w, row: Math.floor(y / r.rowH) });
    const cw = Math.ceil(width / 2);
    const ch = Math.ceil(height / 2);
    for (let plane = 0; plane < 2; plane++) {
      const base = width * height + plane * cw * ch;
      for (let y = Math.floor(r.y / 2); y < Math.ceil((r.y + r.h) / 2); y++)
        this.spans.push({ offset: base + y * cw + Math.floor(r.x / 2), length: Math.ceil(r.w / 2) });
    }
  }

  /** Sets the band's content for the next picture: its stamp (epoch ms) and the id. */
  begin(stampMs: number): void {
    const bits = encodeStripBits(stampMs, this.id);
    for (let row = 0; row < 3; row++) {
      const dst = this.rows[row]!;
      for (let x = 0; x < dst.length; x++) dst[x] = bits[row * CLOCK_COLS + this.colOf[x]!] ? WHITE : BLACK;
    }
    this.cursor = 0;
  }

  /** Paints the part of the band that falls in `chunk` (bytes `offset`.. of the picture), in place. */
  paint(chunk: Buffer, offset: number): void {
    const end = offset + chunk.length;
    while (this.cursor < this.spans.length) {
      const s = this.spans[this.cursor]!;
      if (s.offset >= end) return;
      const from = Math.max(s.offset, offset);
      const to = Math.min(s.offset + s.length, end);
      if (to > from) {
        if (s.row === undefined) chunk.fill(GREY, from - offset, to - offset);
        else this.rows[s.row]!.copy(chunk, from - offset, from - s.offset, to - s.offset);
      }
      if (s.offset + s.length > end) return;
      this.cursor++;
    }
  }
}

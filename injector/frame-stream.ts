/**
 * Splits what the Node painter's decoder writes on its stderr: its log (text lines) and its pictures
 * (yuv4mpegpipe: a "YUV4MPEG2 ..." header line, then per picture "FRAME\n" and the planes) share one file
 * descriptor, written by ffmpeg's main thread in the order things happen. So everything ffmpeg says about a
 * picture before handing it to the muxer (the decoder's "corrupt decoded frame" warning, showinfo's line
 * with its pts) arrives before that picture's bytes. Log lines never start with "FRAME" (the `level` log
 * flag prefixes each with "[").
 *
 * Picture bytes are handed on in the chunks they arrived in (no copy), with their offset in the picture.
 */
export interface FrameStreamHandlers {
  line(text: string): void;
  header(h: { width: number; height: number; fps: { num: number; den: number }; frameBytes: number }): void;
  frameStart(): void;
  frameData(chunk: Buffer, offset: number): void;
  frameEnd(): void;
}

const FRAME = Buffer.from('FRAME', 'latin1');

export class FrameStream {
  private tail: Buffer | undefined;
  private frameBytes = 0;
  /** Bytes of the current picture still to come (0: reading text). */
  private remaining = 0;

  constructor(private readonly h: FrameStreamHandlers) {}

  push(chunk: Buffer): void {
    let data = chunk;
    let i = 0;
    while (i < data.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length - i);
        this.h.frameData(data.subarray(i, i + n), this.frameBytes - this.remaining);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.h.frameEnd();
        continue;
      }
      if (this.tail) {
        data = Buffer.concat([this.tail, data.subarray(i)]);
        this.tail = undefined;
        i = 0;
      }
      const nl = data.indexOf(10, i);
      // A line (or a picture header) is only read whole.
      if (nl < 0) {
        this.tail = Buffer.from(data.subarray(i));
        return;
      }
      if (
        this.frameBytes > 0 &&
        nl - i >= FRAME.length &&
        data.compare(FRAME, 0, FRAME.length, i, i + FRAME.length) === 0
      ) {
        this.h.frameStart();
        this.remaining = this.frameBytes;
        i = nl + 1;
        continue;
      }
      const text = data.toString('latin1', i, nl);
      i = nl + 1;
      if (text.startsWith('YUV4MPEG2 ')) this.onHeader(text);
      else if (text.trim()) this.h.line(text.trim());
    }
  }

  private onHeader(text: string): void {
    const width = Number(/ W(\d+)/.exec(text)?.[1]);
    const height = Number(/ H(\d+)/.exec(text)?.[1]);
    const f = / F(\d+):(\d+)/.exec(text);
    const c = / C(\S+)/.exec(text)?.[1] ?? '420jpeg';
    if (!(width > 0 && height > 0) || !c.startsWith('420'))
      throw new Error(`unexpected picture stream header: ${text}`);
    const chroma = Math.ceil(width / 2) * Math.ceil(height / 2);
    this.frameBytes = width * height + 2 * chroma;
    this.h.header({
      width,
      height,
      fps: { num: Number(f?.[1] ?? 0), den: Number(f?.[2] ?? 0) },
      frameBytes: this.frameBytes,
    });
  }
}

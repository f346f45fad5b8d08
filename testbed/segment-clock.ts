import { spawn } from 'node:child_process';
import { decodeClockFromLuma } from './clock-decode.js';

/**
 * Decodes the first video frame of a media segment (prepend the init segment for fMP4) with ffmpeg, scaled
 * to a fixed gray frame, and reads its in-frame capture clock. Null when no frame or no valid stamp.
 */
export async function segmentFirstFrameClock(
  segment: Uint8Array,
  init?: Uint8Array,
  ffmpegPath = 'ffmpeg',
): Promise<number | null> {
  const w = 640;
  const h = 360;
  const child = spawn(
    ffmpegPath,
    [
      '-v',
      'error',
      '-i',
      'pipe:0',
      '-map',
      '0:v:0',
      '-frames:v',
      '1',
      '-vf',
      `scale=${w}:${h}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'gray',
      'pipe:1',
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stdin.on('error', () => {});
  if (init) child.stdin.write(init);
  child.stdin.end(segment);
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve());
  });
  const frame = Buffer.concat(chunks);
  return frame.length >= w * h ? decodeClockFromLuma(frame, w, h) : null;
}

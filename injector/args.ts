import type { StripPlacement } from '../shared/clock.js';
import { paintGraph } from './strip-filter.js';

export interface EncodeOptions {
  /**
   * libx264 preset. ffmpeg 5.1 decodes, paints and encodes one frame after the other on one thread, so the
   * encoder's time per frame is added delay: ultrafast (the default) keeps 1080p30 within ~one frame.
   */
  preset: string;
  /** Video bitrate of the re-encode, bits/s (a contribution feed: well above the ladder's top rung). */
  bitrate: number;
  /** GOP in frames; 0 keeps x264's default. */
  gop: number;
}

export interface InjectArgs {
  input: string;
  output: string;
  /** Loop a file input at its own rate (rehearsals). */
  loop: boolean;
  placement: StripPlacement;
  id: number;
  /** Added to the host's wall clock for the stamp (minus the measured host offset). */
  stampCorrectionMs: number;
  encode: EncodeOptions;
}

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** Muxer for the output: RTMP carries FLV, RTP carries MPEG-TS in RTP, everything else MPEG-TS. */
export function outputFormat(output: string): string {
  if (/^rtmps?:\/\//i.test(output)) return 'flv';
  if (/^rtp:\/\//i.test(output)) return 'rtp_mpegts';
  return 'mpegts';
}

/** How the input is read: a file loops at its own rate, a live input is read as it arrives. */
function readArgs(a: InjectArgs, decoderThreads: string[]): string[] {
  const args: string[] = [];
  if (a.loop || !isUrl(a.input)) args.push('-re', '-stream_loop', '-1');
  else args.push('-fflags', 'nobuffer');
  args.push(
    '-probesize',
    '1000000',
    '-analyzeduration',
    '1000000',
    '-flags',
    'low_delay',
    ...decoderThreads,
    '-copyts',
    '-i',
    a.input,
  );
  return args;
}

function inputArgs(a: InjectArgs, stdinCommands = false): string[] {
  const args = [
    '-hide_banner',
    // A painting run takes filter commands on stdin (the clock offset: strip-filter.ts OFFSET_FILTER).
    ...(stdinCommands ? [] : ['-nostdin']),
    '-loglevel',
    'error',
    '-progress',
    'pipe:1',
    '-stats_period',
    '0.5',
  ];
  // A file is a rehearsal source: read at its own rate, forever. A live input is read as it arrives, with
  // no demuxer buffering and a low-delay decoder (slice threads: frame threads would hold frames back).
  return [...args, ...readArgs(a, ['-thread_type', 'slice'])];
}

function outputArgs(a: InjectArgs): string[] {
  return [
    '-muxdelay',
    '0',
    '-muxpreload',
    '0',
    '-flush_packets',
    '1',
    // Video PES with their length (ffmpeg omits it by default): a downstream demuxer can hand a frame on as
    // soon as its last packet arrives instead of waiting for the next frame's first one (one frame sooner).
    ...(outputFormat(a.output) === 'mpegts' ? ['-omit_video_pes_length', '0'] : []),
    '-f',
    outputFormat(a.output),
    // A file output is a rehearsal: each run rewrites it (ffmpeg would otherwise ask, and with -nostdin fail).
    '-y',
    a.output,
  ];
}

function encodeVideoArgs(e: EncodeOptions): string[] {
  return [
    '-c:v',
    'libx264',
    '-preset',
    e.preset,
    '-tune',
    'zerolatency',
    '-b:v',
    String(e.bitrate),
    '-maxrate',
    String(e.bitrate),
    '-bufsize',
    String(e.bitrate),
    ...(e.gop > 0 ? ['-g', String(e.gop)] : []),
    '-enc_time_base:v',
    '-1',
  ];
}

/**
 * The Node painter's decoder (node-paint.ts): the first video stream decoded to raw I420 pictures in
 * yuv4mpegpipe on fd 2, where its log goes too (at info level: showinfo names each picture's pts; the
 * decoder's "corrupt decoded frame" warning comes before the picture it is about; `repeat` keeps ffmpeg
 * from folding identical warnings into one). One decoder thread: with slice threads h264 conceals without
 * flagging the picture, and frame threads hold pictures back. fd 3 carries the audio (with the video,
 * stream copied, so the output is never empty) in MPEG-TS for the encoder, timestamps untouched.
 */
export function decodeArgs(a: InjectArgs): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'repeat+level+info',
    ...readArgs(a, ['-threads', '1']),
    '-map',
    '0:v:0',
    '-vf',
    'showinfo=checksum=0',
    // One picture out per picture showinfo names (the muxer's constant-rate default would duplicate and
    // drop pictures on a jittery live input, and the pairing of pts lines and pictures would slip).
    '-fps_mode',
    'passthrough',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'yuv4mpegpipe',
    '-flush_packets',
    '1',
    'pipe:2',
    '-map',
    '0:a?',
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-muxdelay',
    '0',
    '-muxpreload',
    '0',
    // Each audio frame in its own PES, at once: the encoder's muxer interleaves by timestamp and would
    // hold every picture until audio that late arrived (the default gathers ~10 AAC frames per PES).
    '-pes_payload_size',
    '0',
    '-flush_packets',
    '1',
    '-f',
    'mpegts',
    'pipe:3',
  ];
}

/**
 * The Node painter's encoder: painted pictures as Matroska on stdin (mkv.ts, the decoder's pts kept), the
 * decoder's audio as MPEG-TS on fd 3, encoded and pushed like the ffmpeg painter's output.
 */
export function encodeArgs(a: InjectArgs): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-progress',
    'pipe:1',
    '-stats_period',
    '0.5',
    '-f',
    'matroska',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-i',
    'pipe:0',
    '-f',
    'mpegts',
    '-probesize',
    '200000',
    '-analyzeduration',
    '500000',
    '-i',
    'pipe:3',
    '-copyts',
    '-map',
    '0:v:0',
    '-map',
    '1:a?',
    ...encodeVideoArgs(a.encode),
    '-c:a',
    'copy',
    ...outputArgs(a),
  ];
}

/**
 * Paint: decode the first video stream, lay the strip over it, re-encode with x264 (zerolatency: no
 * lookahead, no B-frames, so the encoder holds no frame back), and copy every audio stream untouched. The
 * input timestamps go through (-copyts, encoder time base = the demuxer's).
 */
export function paintArgs(a: InjectArgs): string[] {
  const e = a.encode;
  return [
    ...inputArgs(a, true),
    '-filter_complex',
    paintGraph({ offsetMs: a.stampCorrectionMs, id: a.id, placement: a.placement }),
    '-map',
    '[v]',
    '-map',
    '0:a?',
    ...encodeVideoArgs(e),
    '-c:a',
    'copy',
    ...outputArgs(a),
  ];
}

/** Passthrough: the feed as it came, remuxed (stream copy), unpainted. */
export function passthroughArgs(a: InjectArgs): string[] {
  return [...inputArgs(a), '-map', '0:v?', '-map', '0:a?', '-c', 'copy', ...outputArgs(a)];
}

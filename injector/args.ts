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
  if (a.loop || !isUrl(a.input)) args.push('-re', '-stream_loop', '-1');
  else args.push('-fflags', 'nobuffer');
  args.push(
    '-probesize',
    '1000000',
    '-analyzeduration',
    '1000000',
    '-flags',
    'low_delay',
    '-thread_type',
    'slice',
    '-copyts',
    '-i',
    a.input,
  );
  return args;
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
    '-c:a',
    'copy',
    ...outputArgs(a),
  ];
}

/** Passthrough: the feed as it came, remuxed (stream copy), unpainted. */
export function passthroughArgs(a: InjectArgs): string[] {
  return [...inputArgs(a), '-map', '0:v?', '-map', '0:a?', '-c', 'copy', ...outputArgs(a)];
}

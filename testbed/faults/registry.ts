import { audioDrop } from './audio-drop.js';
import { audioSilence } from './audio-silence.js';
import { avDrift } from './av-drift.js';
import { bitrateOver } from './bitrate-over.js';
import { black } from './black.js';
import { captionsStale } from './captions-stale.js';
import { delay } from './delay.js';
import { freeze } from './freeze.js';
import { hang } from './hang.js';
import { discontinuity, dropSegment, endlist, mseqRegress, pdtJump } from './playlist-edits.js';
import { publishDelay } from './publish-delay.js';
import { resolutionLie } from './resolution-lie.js';
import { segment404 } from './segment-404.js';
import { mpdStale, stale } from './stale.js';
import { status } from './status.js';
import { throttle } from './throttle.js';
import type { FaultModule } from './types.js';
import { wrongAst } from './wrong-ast.js';

export const FAULT_TYPES = [
  'delay',
  'status',
  'hang',
  'throttle',
  'stale',
  'mseq-regress',
  'drop-segment',
  'discontinuity',
  'pdt-jump',
  'endlist',
  'publish-delay',
  'mpd-stale',
  'wrong-ast',
  'segment-404',
  'captions-stale',
  'bitrate-over',
  'audio-silence',
  'audio-drop',
  'av-drift',
  'resolution-lie',
  'freeze',
  'black',
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** Every fault type and its module: adding a type is one file and one line here. */
export const FAULTS: Record<FaultType, FaultModule<never>> = {
  delay,
  status,
  hang,
  throttle,
  stale,
  'mseq-regress': mseqRegress,
  'drop-segment': dropSegment,
  discontinuity,
  'pdt-jump': pdtJump,
  endlist,
  'publish-delay': publishDelay,
  'mpd-stale': mpdStale,
  'wrong-ast': wrongAst,
  'segment-404': segment404,
  'captions-stale': captionsStale,
  'bitrate-over': bitrateOver,
  'audio-silence': audioSilence,
  'audio-drop': audioDrop,
  'av-drift': avDrift,
  'resolution-lie': resolutionLie,
  freeze,
  black,
} as Record<FaultType, FaultModule<never>>;

export function isFaultType(t: string): t is FaultType {
  return (FAULT_TYPES as readonly string[]).includes(t);
}

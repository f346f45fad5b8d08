import type { RenditionChoice } from '../../shared/schemas.js';
/**
 * The one contract between the harness page (harness/harness.js) and Node: a typed event timeline.
 * Every event is `{ type, t, ...payload }` where `t` is ms since the page called hls.loadSource() (the startup
 * origin) on the page's performance.now() clock. Node drains the timeline with `__liveprobe.drain()` and does
 * all arithmetic (percentiles, periods, outcome) itself.
 */
export interface HarnessEventMap {
  /** loadSource() was called (t = 0). `wall` is Date.now() at that instant: converts any t to epoch ms. */
  start: { wall: number; player: string; nativeHls: string };
  /** MANIFEST_LOADED: the master (or single media) playlist. */
  manifest: Record<string, never>;
  /** MANIFEST_PARSED / LEVELS_UPDATED: the levels as hls.js indexes them (frag.level, LEVEL_SWITCHED). */
  levels: { levels: Array<{ height?: number; width?: number; bitrate?: number; url?: string }> };
  /** LEVEL_LOADED: a media playlist. */
  'media-playlist': { level: number; live: boolean };
  /** FRAG_LOADED for a media fragment (never an init segment); start/first/end are relative like t. */
  segment: {
    sn: number;
    level: number;
    kind: string;
    url?: string;
    bytes: number;
    start: number;
    first: number;
    end: number;
  };
  /** FRAG_BUFFERED for a main media fragment. */
  buffered: { sn: number; level: number };
  /** First frame presented with the playhead advancing; t is its expected display time. */
  'first-frame': { mediaTime: number };
  /** One decoded in-frame clock: ms = display wall time - capture wall time. */
  g2g: { ms: number; capture: number; strip?: string; injector?: number };
  /** Date.now() - hls.playingDate, sampled while playing. */
  pdt: { ms: number };
  /** Date.now() - dash.js timeAsUTC() (the playhead's wall time per the MPD), unclamped, sampled while playing. */
  'dash-latency': { ms: number };
  /** `waiting` after the first frame. */
  'stall-start': { mediaTime: number };
  /** Playback resumed (`playing`, or `timeupdate` past the stall position); ms = stall duration. */
  'stall-end': { ms: number };
  /** LEVEL_SWITCHED. */
  switch: { level: number };
  /** hls.js ERROR. status only when an HTTP response code (> 0) was present. */
  /** frag: the kind of fragment it concerns (hls.js: 'main' | 'audio' | 'subtitle'), when it concerns one. */
  error: {
    errType: string;
    details: string;
    fatal: boolean;
    status?: number;
    url?: string;
    reason?: string;
    frag?: string;
  };
  /** Picture unchanged for >= freezeMinMs while the playhead moved; t is when it stopped changing. */
  'frozen-start': Record<string, never>;
  'frozen-end': Record<string, never>;
  /** Picture black for >= blackMinMs; t is when it went black. */
  'black-start': Record<string, never>;
  'black-end': Record<string, never>;
  /** How the Web Audio analysis came up (error: it could not; no audio figures then). */
  'audio-ready': { sampleRate?: number; state?: string; outputLatencyMs?: number; error?: string };
  /**
   * One 100 ms window of the played audio: RMS in dBFS (-200 for digital silence); playing = the element was
   * playing; carried = the player's audio buffer holds the playhead (null: the player made no audio buffer);
   * video = the same for the video buffer.
   */
  'audio-level': { db: number; playing: boolean; carried: boolean | null; video: boolean | null };
  /** What the master / MPD declares: an audio track, caption tracks. */
  declared: { audio: boolean; captions: boolean };
  /** A caption track was selected (label or language). */
  captions: { label: string };
  /** A caption cue became active for the first time. */
  cue: { start: number };
  /** The sync tone started playing (t: when it is output). */
  'av-tone': Record<string, never>;
  /** The marked frame of the sync marker was presented (t: its display time). */
  'av-mark': Record<string, never>;
  /** Buffered audio minus video timeline at the playhead (range starts), ms. */
  'av-buffer': { ms: number };
  /** The decoded picture size or the playing level changed. */
  resolution: { level: number; width: number; height: number };
  /** Our own harness code failed (probe-error, never the stream's fault). */
  'harness-error': { message: string };
}

export type HarnessEventType = keyof HarnessEventMap;

export type HarnessEvent = {
  [K in HarnessEventType]: { type: K; t: number } & HarnessEventMap[K];
}[HarnessEventType];

export type EventOf<K extends HarnessEventType> = Extract<HarnessEvent, { type: K }>;

/** State read at each drain: frame counters are cumulative, so periods use deltas between snapshots. */
export interface HarnessSnapshot {
  /** Same clock as event t. */
  now: number;
  dropped: number;
  total: number;
  currentTime: number;
  stalled: boolean;
  level: number;
  decodeAttempts: number;
  decodeOk: number;
}

export interface DrainResult {
  events: HarnessEvent[];
  snapshot: HarnessSnapshot;
}

/** What Node passes to `__liveprobe.start()`. */
export interface HarnessStartConfig {
  url: string;
  /** hls: hls.js (always; never native HLS). dash: dash.js. */
  protocol: 'hls' | 'dash';
  /** Path of dash.js on the harness server, when the prober has it. */
  dashScript?: string;
  /** Decode the clock on every Nth presented frame. */
  decodeEvery: number;
  pdtEveryMs: number;
  /** Block centres as fractions of the frame (shared/clock.ts clockBlockCentre). */
  centres: Array<{ x: number; y: number }>;
  /** Strip height as a fraction of the frame (shared/clock.ts CLOCK_STRIP_HEIGHT). */
  stripHeight: number;
  /** Where a strip may sit, most likely first (shared/clock.ts STRIP_PLACEMENTS as frame-fraction rects). */
  placements?: Array<{ name: string; x: number; y: number; w: number; h: number }>;
  /** The 96 block centres (clock rows, then the id row) as fractions of the band (stripBlockCentre). */
  bandCentres?: Array<{ x: number; y: number }>;
  hlsConfig: Record<string, unknown>;
  /** Picture unchanged this long while the playhead moves counts as frozen. */
  freezeMinMs: number;
  /** Picture black this long counts as black. */
  blackMinMs: number;
  rendition?: RenditionChoice;
  /** Analyse the played audio (Web Audio); absent = the element stays muted and no audio figures. */
  audio?: { workletUrl: string; toneHz: number };
  /** Look for the A/V sync marker (shared/sync-marker.ts geometry). */
  sync?: {
    marker: { x0: number; x1: number; upper: { y0: number; y1: number }; lower: { y0: number; y1: number } };
    minDiff: number;
    /** Media seconds between marked frames (SYNC_PERIOD_S): once one is seen, only frames near the next are read. */
    periodS: number;
  };
  /** CMCD (CTA-5004) in query mode on every request. */
  cmcd?: {
    sessionId: string;
    contentId: string;
    customKey?: string;
    customValue?: string | number | boolean;
  };
}

const TYPES: ReadonlySet<string> = new Set<HarnessEventType>([
  'start',
  'manifest',
  'levels',
  'media-playlist',
  'segment',
  'buffered',
  'first-frame',
  'g2g',
  'pdt',
  'dash-latency',
  'stall-start',
  'stall-end',
  'switch',
  'frozen-start',
  'frozen-end',
  'black-start',
  'black-end',
  'error',
  'harness-error',
  'audio-ready',
  'audio-level',
  'declared',
  'captions',
  'cue',
  'av-tone',
  'av-mark',
  'av-buffer',
  'resolution',
]);

/** A light structural check at the page boundary: a malformed drain means the harness broke. */
export function parseDrain(raw: unknown): DrainResult {
  if (typeof raw !== 'object' || raw === null) throw new Error('harness drain returned no object');
  const r = raw as { events?: unknown; snapshot?: unknown };
  if (!Array.isArray(r.events)) throw new Error('harness drain returned no events array');
  const snap = r.snapshot as Partial<HarnessSnapshot> | undefined;
  if (!snap || typeof snap.now !== 'number' || typeof snap.total !== 'number') {
    throw new Error('harness drain returned no snapshot');
  }
  const events: HarnessEvent[] = [];
  for (const e of r.events as Array<{ type?: unknown; t?: unknown }>) {
    if (
      typeof e?.type !== 'string' ||
      !TYPES.has(e.type) ||
      typeof e.t !== 'number' ||
      !Number.isFinite(e.t)
    ) {
      throw new Error(`harness emitted a malformed event: ${JSON.stringify(e).slice(0, 200)}`);
    }
    events.push(e as HarnessEvent);
  }
  return { events, snapshot: snap as HarnessSnapshot };
}

export type { RenditionChoice };

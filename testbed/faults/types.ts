import { z } from 'zod';
import type { MediaPlaylist } from '../hls.js';
import type { ResourceKind, ResourceRef, StreamLayout } from '../layout.js';
import type { ManifestView, ServePlan } from '../origin.js';
import type { ManifestVersion, PlaylistStore } from '../playlists.js';
import type { SourceControl } from '../source-control.js';
import type { TimelineTruth } from '../truth.js';

/** An injected fault as the API reports it. */
export interface FaultRecord {
  id: string;
  type: string;
  stream: string;
  rendition?: string;
  params: Record<string, unknown>;
  durationS?: number;
  /** Wall-clock ISO times. */
  injectedAt: string;
  expiresAt?: string;
  source: string;
  /** 'source': the fault acts on the one painted source, so every stream shows it (freeze, black). */
  scope?: 'source';
}

/** What a picture fault does to the painted source. */
export type PictureMode = 'freeze' | 'black';

/** A fault while active, with the private state its module keeps (frozen copies, counters...). */
export interface ActiveFault<P = Record<string, unknown>> {
  record: FaultRecord;
  params: P;
  injectedAtMs: number;
  state: Record<string, unknown>;
  /** Settles when the fault is removed (hung requests are then released). */
  removed: Promise<void>;
}

/** What a fault module may look at when it is injected. */
export interface FaultEnv {
  store: PlaylistStore;
  truth: TimelineTruth;
  stream: StreamLayout;
  segmentS: number;
  /** Root-relative paths of the manifests this fault covers (media playlists, or the MPD). */
  manifests: string[];
  /** The manifest as currently served (truth-corrected, before faults). */
  currentView(path: string): ManifestView | undefined;
  /** The live source itself (its audio): content faults act here, on every stream at once. */
  source: SourceControl;
}

export interface RequestCtx {
  ref: ResourceRef;
  now: number;
  segmentS: number;
  truth: TimelineTruth;
  store: PlaylistStore;
}

/**
 * One fault type. Hooks are optional; the engine calls each active fault's hooks for the requests it
 * matches (same stream; same rendition when the fault names one).
 */
export interface FaultModule<P = Record<string, unknown>> {
  type: string;
  description: string;
  protocols: ReadonlyArray<'hls' | 'dash'>;
  /** Whether a rendition may / must be named. */
  rendition: 'optional' | 'forbidden';
  params: z.ZodType<P>;
  /** 'source' for faults that act on the painted picture (every stream), not on the origin's answers. */
  scope?: 'source';
  /** Extra checks that need the target; returns problems (each becomes a 400 issue). */
  check?(target: { stream: StreamLayout; rendition?: string }): string[];
  /** Called once at injection (e.g. snapshot the playlist to freeze). */
  inject?(f: ActiveFault<P>, env: FaultEnv): void;
  /** Request-level effects (latency, status, hang, throttle). */
  plan?(f: ActiveFault<P>, ctx: RequestCtx): Partial<ServePlan> | undefined;
  /** Serve this view instead of the live manifest (stale: the frozen copy). Checked first. */
  freeze?(f: ActiveFault<P>, ctx: RequestCtx): ManifestView | undefined;
  /** Serve an older published version (publish-delay). */
  selectVersion?(f: ActiveFault<P>, ctx: RequestCtx): ManifestVersion | undefined;
  /** Edit an HLS media playlist in place. */
  editPlaylist?(f: ActiveFault<P>, p: MediaPlaylist, ctx: RequestCtx): void;
  /** Rewrite a DASH MPD. */
  editMpd?(f: ActiveFault<P>, text: string, ctx: RequestCtx): string;
  /**
   * Rewrite the stream's master playlist or MPD. Unlike editPlaylist / editMpd, it is called for a fault that
   * names a rendition too (the entry declares every rendition: resolution-lie edits one's declaration).
   */
  editEntry?(f: ActiveFault<P>, text: string, ctx: RequestCtx): string;
  /** Rewrite a media segment's (or init segment's) bytes before they are served. */
  segmentBody?(f: ActiveFault<P>, body: Buffer, ctx: RequestCtx): Buffer;
  /** False hides a segment (404). */
  segmentVisible?(f: ActiveFault<P>, ctx: RequestCtx): boolean;
  /** Change the painted source picture while active (freeze, black). */
  picture?(f: ActiveFault<P>): PictureMode | undefined;
}

/** Helper so each module keeps its own param type while the registry holds them uniformly. */
export function defineFault<S extends z.ZodType>(
  m: Omit<FaultModule<z.infer<S>>, 'params'> & { params: S },
): FaultModule<z.infer<S>> {
  return m as FaultModule<z.infer<S>>;
}

/**
 * Which requests a request-level fault hits. `master`: only the entry document (HLS master playlist, DASH
 * MPD), so a failing master can be told apart from failing media playlists.
 */
export const Target = z.enum(['segments', 'playlists', 'master', 'all']);
export type Target = z.infer<typeof Target>;

const PLAYLIST_KINDS: ResourceKind[] = ['master', 'playlist', 'mpd'];

export function targets(on: Target, kind: ResourceKind): boolean {
  if (on === 'all') return true;
  if (on === 'master') return kind === 'master' || kind === 'mpd';
  const isPlaylist = PLAYLIST_KINDS.includes(kind);
  return on === 'playlists' ? isPlaylist : !isPlaylist;
}

/** A media-sequence (HLS) or $Number$ (DASH) range; both ends optional and inclusive. */
export function inRange(seq: number | undefined, from?: number, to?: number): boolean {
  if (from === undefined && to === undefined) return true;
  if (seq === undefined) return false;
  return (from === undefined || seq >= from) && (to === undefined || seq <= to);
}

/**
 * Deterministic rate: fails exactly `rate` of the matching requests, spread evenly (error diffusion), so a
 * test or benchmark sees the same count every run.
 */
export function rateHit(state: Record<string, unknown>, rate: number): boolean {
  const acc = ((state.acc as number | undefined) ?? 0) + rate;
  if (acc >= 1 - 1e-9) {
    state.acc = acc - 1;
    return true;
  }
  state.acc = acc;
  return false;
}

/** Media sequence number after which "the next segment" starts, per covered manifest, at injection time. */
export function nextSeqAtInject(env: FaultEnv, path: string): number | undefined {
  const v = env.currentView(path);
  if (!v) return undefined;
  const m = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(v.text);
  const n = (v.text.match(/^#EXTINF:/gm) ?? []).length;
  return m ? Number(m[1]) + n : undefined;
}

import { redactUrl } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import { sketchesOf } from '../../shared/sample-sketch.js';
import {
  type AvMethod,
  type ErrorCategory,
  type Finding,
  type G2gMethod,
  type LatencyMethod,
  MAX_ERRORS_IN_REPORT,
  MAX_RENDITIONS_IN_REPORT,
  MAX_SEGMENTS_IN_REPORT,
  type PlayerNotice,
  type ProbeErrorEntry,
  type RenditionTime,
  type SampleSketches,
  type SegmentTiming,
  type StartupBreakdown,
} from '../../shared/schemas.js';
import { SYNC_PERIOD_S } from '../../shared/sync-marker.js';
import type { DrainResult, EventOf, HarnessEventMap, HarnessSnapshot } from './events.js';
import { percentiles } from './percentiles.js';
import { causalStartup } from './startup.js';

type Level = HarnessEventMap['levels']['levels'][number];

/** A 100 ms window of played audio below this RMS level (dBFS) is silent (config browser.silenceDbfs). */
export const DEFAULT_SILENCE_DBFS = -60;
/** Each audio-level event covers this much playback. */
const AUDIO_WINDOW_MS = 100;
/** A tone and a marked frame further apart than this are not one sync event (half the marker period). */
const AV_PAIR_MS = (SYNC_PERIOD_S * 1000) / 2;
/**
 * Frames presented this recently may not be drained yet (a frame callback stamps the display time up to a
 * frame ahead, the tone its output time up to the output latency ahead): a pairing is final past this margin.
 */
const AV_PAIR_SETTLE_MS = 100;
/** A decoded size differing from the declared one this long (same level) is a finding, not a switch. */
const RESOLUTION_MIN_MS = 2000;
/**
 * Audio windows starting this soon after a stall ended are not judged: the element's audio output resumes a
 * little after its 'playing' event, so such a window can hold the stall's output silence (digital zeros).
 */
const STALL_RESUME_MS = 150;
/** Audio missing this long in a report is a finding. */
const AUDIO_MISSING_MIN_MS = 2000;

/** What one period hands the next: the session state that spans report boundaries. */
export interface Carry {
  startWall?: number;
  levels: Level[];
  firstFrameAt?: number;
  /** t of a stall / frozen / black interval still open at the end of the previous period. */
  openStallAt?: number;
  /** t the latest stall ended (audio windows right after it are not judged). */
  stallEndedAt?: number;
  openFrozenAt?: number;
  openBlackAt?: number;
  /** Startup parts seen so far (ms from loadSource). */
  startup: StartupBreakdown;
  startupReported: boolean;
  /** Cumulative frame counters at the end of the previous period. */
  lastSnapshot?: HarnessSnapshot;
  fatalSeen: boolean;
  /** t since which no player is running (browser died, restart pending): not playing time. */
  offlineSince?: number;
  /** The rendition displayed (index into levels; the latest 'switch'). */
  level?: number;
  /** Playing time up to this t is already credited to a rendition. */
  renditionMark?: number;
  /** 100 ms audio windows quieter than this (dBFS) are silent. */
  silenceDbfs: number;
  /** The master / MPD declares audio (undefined until the player said). */
  audioDeclared?: boolean;
  /** A caption track is selected (its label). */
  captions?: string;
  /** Sync tones not yet paired with a marked frame, and recent marked frames (t). */
  avTones: number[];
  avMarks: number[];
  /**
   * A tone has been paired with a marked frame in this session: the stream carries the sync marker, so the
   * offset comes from it alone. The buffered-timeline fallback reads a hole in one track (audio segments that
   * carried no audio, evicted later) as a shift of tens of seconds.
   */
  avMarkerSeen?: boolean;
  /** The decoded picture size and level showing since t. */
  picture?: { level: number; width: number; height: number; since: number };
}

export const initialCarry = (silenceDbfs = DEFAULT_SILENCE_DBFS): Carry => ({
  levels: [],
  startup: {},
  startupReported: false,
  fatalSeen: false,
  silenceDbfs,
  avTones: [],
  avMarks: [],
});

export interface PeriodData {
  metrics: Metrics;
  startup?: StartupBreakdown;
  segments: SegmentTiming[];
  errors: ProbeErrorEntry[];
  /** Non-fatal player events a healthy stream produces too (NOTICE_DETAILS), collapsed by type. */
  notices: PlayerNotice[];
  latencyMethod?: LatencyMethod;
  /** First frame seen by the end of this period. */
  played: boolean;
  /** First fatal player error in this period. */
  fatal?: EventOf<'error'>;
  harnessErrors: string[];
  /** Clock decode attempts / successes in this period. */
  decode: { attempts: number; ok: number };
  /**
   * Where glass-to-glass came from: 'stamp' with the strip's place and painter id (the latest read), or
   * 'none' when frames were read and none carried a strip. Absent when no frame was read.
   */
  g2g?: { method: G2gMethod; strip?: string; injectorId?: number };
  /** Period bounds on the timeline clock (ms since loadSource). */
  from: number;
  to: number;
  /** Once played: playing time per displayed rendition in this period (sums to the period's playing time). */
  renditions?: RenditionTime[];
  /** Mergeable sketches of the raw samples behind the percentiles (clock-dependent ones corrected). */
  sketches?: SampleSketches;
  /** Where av_offset_ms came from: the sync marker in the picture and sound, else the buffered timelines. */
  avMethod?: AvMethod;
  /** Viewer-signal findings of this period (resolution-mismatch, audio-missing). */
  findings: Finding[];
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export function renditionName(levels: readonly Level[], level: number, kind = 'main'): string {
  if (kind !== 'main') return kind;
  const l = levels[level];
  if (!l?.height) return `level ${level}`;
  const twin = levels.some((o, i) => i !== level && o.height === l.height);
  return twin && l.bitrate ? `${l.height}p@${Math.round(l.bitrate / 1000)}k` : `${l.height}p`;
}

/**
 * A URL fit for a report: our own CMCD query parameter removed (it is the probe's, not the stream's), then
 * query values and userinfo redacted (signed URLs carry credentials there).
 */
export function reportUrl(raw: string): string {
  let out = raw;
  try {
    const u = new URL(raw);
    if (u.searchParams.has('CMCD')) {
      u.searchParams.delete('CMCD');
      out = u.href;
    }
  } catch {}
  return redactUrl(out).slice(0, 2048);
}

/** Player messages embed URLs (dash.js puts the manifest URL in its text): redact every one of them. */
export function redactUrlsIn(text: string): string {
  return text.replace(/https?:\/\/[^\s"'<>]+/g, (u) => reportUrl(u));
}

/**
 * hls.js non-fatal error details that a healthy live stream produces too: the player jumping a small hole in
 * the buffer (typical at start, where audio and video do not begin at the same instant), nudging the playhead
 * past a micro-stall, noting a stalled buffer it then recovers (a real stall is measured as a stall), a
 * GAP-tagged fragment skipped, a full buffer it answers by shrinking its target, or an append that added
 * nothing new. Reported as notices.
 */
export const NOTICE_DETAILS: ReadonlySet<string> = new Set([
  'bufferSeekOverHole',
  'bufferNudgeOnStall',
  'bufferStalledError',
  'fragGap',
  'bufferFullError',
  // A fragment whose media the buffer already held (audio re-fetched around a level switch).
  'bufferAppendNoProgress',
]);

export function isNotice(e: { fatal: boolean; details: string }): boolean {
  return !e.fatal && NOTICE_DETAILS.has(e.details);
}

export function errorCategory(e: { errType: string; status?: number }): ErrorCategory {
  if (e.status !== undefined && (e.status < 200 || e.status >= 400)) return 'http';
  if (e.errType === 'networkError') return 'network';
  return 'player';
}

/**
 * Accumulates drained harness events for one report period (a watch interval, or the whole session for the
 * summary) and turns them into the report's metrics. Pure: no browser, no clock of its own.
 */
export class PeriodAccumulator {
  private readonly carry: Carry;
  private readonly from: number;
  private to: number;
  private snapshot?: HarnessSnapshot;
  private readonly startSnapshot?: HarnessSnapshot;
  private readonly segments: SegmentTiming[] = [];
  private segmentsTotal = 0;
  private readonly ttfb: number[] = [];
  private readonly download: number[] = [];
  private readonly throughput: number[] = [];
  private readonly g2g: number[] = [];
  private g2gStrip?: string;
  private g2gInjector?: number;
  private readonly pdt: number[] = [];
  private readonly dash: number[] = [];
  private readonly errors: ProbeErrorEntry[] = [];
  private readonly notices = new Map<string, PlayerNotice>();
  private readonly errorCounts: Record<ErrorCategory, number> = {
    http: 0,
    network: 0,
    player: 0,
    conformance: 0,
  };
  private readonly harnessErrors: string[] = [];
  private fatal?: EventOf<'error'>;
  private stallCount = 0;
  private stallMs = 0;
  private frozenMs = 0;
  private blackMs = 0;
  private offlineMs = 0;
  private switches = 0;
  /** Playing ms per rendition name, credited up to carry.renditionMark. */
  private readonly renditionMs = new Map<string, RenditionTime>();
  private firstFrameThisPeriod = false;
  private readonly audioDb: number[] = [];
  /** End times of the silent 100 ms windows, judged against the stalls at finish(). */
  private readonly silentAt: number[] = [];
  /** Stall intervals of this period [start, end] (stall events can be drained after the windows they cut). */
  private readonly stallSpans: Array<[number, number]> = [];
  /** Audio windows analysed in this period (none: audio analysis off or failed, so no audio figures). */
  private audioWindows = 0;
  /** Ends of the 100 ms windows with declared audio absent from the buffer while the picture played. */
  private readonly missingAt: number[] = [];
  /** Audio segments the player found without audio (a demuxed audio rendition whose track is gone). */
  private audioEmpty?: { at: number; count: number };
  private readonly avMarker: number[] = [];
  private readonly avBuffer: number[] = [];
  private cues = 0;
  /** Per level: the mismatching decoded size seen (for one finding per level and period). */
  private readonly mismatches = new Map<number, { at: number; width: number; height: number; ms: number }>();
  private readonly isFirstPeriod: boolean;

  constructor(carry: Carry) {
    this.carry = structuredClone(carry);
    this.isFirstPeriod = carry.lastSnapshot === undefined;
    this.startSnapshot = carry.lastSnapshot;
    this.from = carry.lastSnapshot?.now ?? 0;
    this.to = this.from;
  }

  add(d: DrainResult): void {
    const c = this.carry;
    for (const e of d.events) {
      switch (e.type) {
        case 'start':
          // A watch that restarts its player keeps one timeline: the first start is its origin.
          c.startWall ??= e.wall;
          break;
        case 'manifest':
          c.startup.manifest_ms ??= r1(e.t);
          break;
        case 'levels':
          c.levels = e.levels;
          break;
        case 'media-playlist':
          c.startup.media_playlist_ms ??= r1(e.t);
          break;
        case 'segment': {
          if (e.kind === 'main') {
            c.startup.first_segment_ttfb_ms ??= r1(e.first);
            c.startup.first_segment_ms ??= r1(e.end);
          }
          const ttfb = Math.max(0, e.first - e.start);
          const dl = Math.max(0, e.end - e.start);
          this.segmentsTotal++;
          this.ttfb.push(ttfb);
          this.download.push(dl);
          // bytes*8 bits over dl ms = kbit/s.
          if (dl > 0) this.throughput.push((e.bytes * 8) / dl);
          this.segments.push({
            at: Math.round((c.startWall ?? 0) + e.start),
            rendition: renditionName(c.levels, e.level, e.kind),
            sn: Number.isInteger(e.sn) ? e.sn : undefined,
            url: e.url ? reportUrl(e.url) : '',
            bytes: Math.max(0, Math.round(e.bytes)),
            ttfb_ms: r1(ttfb),
            download_ms: r1(dl),
          });
          if (this.segments.length > MAX_SEGMENTS_IN_REPORT) this.segments.shift();
          break;
        }
        case 'buffered':
          c.startup.first_buffered_ms ??= r1(e.t);
          break;
        case 'first-frame':
          if (c.firstFrameAt === undefined) {
            // Playing time (and so rendition time) starts here, as in the rebuffer ratio.
            c.renditionMark = e.t;
            c.firstFrameAt = e.t;
            c.startup.first_frame_ms = r1(e.t);
            this.firstFrameThisPeriod = true;
          }
          break;
        case 'g2g':
          this.g2g.push(e.ms);
          if (e.strip) this.g2gStrip = e.strip;
          this.g2gInjector = e.injector;
          break;
        case 'pdt':
          this.pdt.push(e.ms);
          break;
        case 'dash-latency':
          this.dash.push(e.ms);
          break;
        case 'stall-start':
          this.credit(e.t);
          this.stallCount++;
          c.openStallAt = e.t;
          break;
        case 'stall-end':
          this.credit(e.t);
          if (c.openStallAt !== undefined)
            this.stallMs += Math.max(0, e.t - Math.max(c.openStallAt, this.from));
          this.stallSpans.push([c.openStallAt ?? e.t, e.t]);
          c.openStallAt = undefined;
          c.stallEndedAt = e.t;
          break;
        case 'frozen-start':
          c.openFrozenAt = e.t;
          break;
        case 'frozen-end':
          if (c.openFrozenAt !== undefined) this.frozenMs += this.overlap(c.openFrozenAt, e.t);
          c.openFrozenAt = undefined;
          break;
        case 'black-start':
          c.openBlackAt = e.t;
          break;
        case 'black-end':
          if (c.openBlackAt !== undefined) this.blackMs += this.overlap(c.openBlackAt, e.t);
          c.openBlackAt = undefined;
          break;
        case 'switch':
          this.credit(e.t);
          // The initial LEVEL_SWITCHED belongs to startup, not to a switch; nor is a restarted player's first
          // one when it lands on the rendition that was showing.
          if (c.firstFrameAt !== undefined && e.t > c.firstFrameAt && e.level !== c.level) this.switches++;
          c.level = e.level;
          break;
        case 'error': {
          if (e.frag === 'audio' && /no media/i.test(e.reason ?? '') && e.t >= this.from) {
            // The audio rendition's segments carry no audio: no samples will play, whatever the buffers say.
            if (this.audioEmpty) this.audioEmpty.count++;
            else this.audioEmpty = { at: e.t, count: 1 };
          }
          if (isNotice(e)) {
            const n = this.notices.get(e.details);
            if (n) n.count++;
            else if (this.notices.size < 50)
              this.notices.set(e.details, {
                type: e.details.slice(0, 200),
                at: Math.round((c.startWall ?? 0) + e.t),
                count: 1,
                ...(e.reason ? { details: redactUrlsIn(e.reason).slice(0, 1000) } : {}),
              });
            break;
          }
          const category = errorCategory(e);
          this.errorCounts[category]++;
          if (e.fatal && !this.fatal) this.fatal = e;
          if (e.fatal) c.fatalSeen = true;
          if (this.errors.length < MAX_ERRORS_IN_REPORT) {
            this.errors.push({
              at: Math.round((c.startWall ?? 0) + e.t),
              category,
              type: e.errType.slice(0, 200),
              details: redactUrlsIn(e.reason ? `${e.details}: ${e.reason}` : e.details).slice(0, 1000),
              fatal: e.fatal,
              status: e.status,
              url: e.url ? reportUrl(e.url) : undefined,
            });
          }
          break;
        }
        case 'harness-error':
          this.harnessErrors.push(e.message);
          break;
        case 'declared':
          c.audioDeclared = e.audio;
          break;
        case 'captions':
          c.captions = e.label;
          break;
        case 'cue':
          if (e.t >= this.from) this.cues++;
          break;
        case 'audio-level':
          this.audioWindow(e);
          break;
        case 'av-tone':
          c.avTones.push(e.t);
          break;
        case 'av-mark':
          c.avMarks.push(e.t);
          break;
        case 'av-buffer':
          this.avBuffer.push(e.ms);
          break;
        case 'resolution':
          this.closePicture(e.t);
          c.picture = { level: e.level, width: e.width, height: e.height, since: e.t };
          break;
      }
    }
    this.pairAv(d.snapshot.now);
    this.snapshot = d.snapshot;
    this.to = Math.max(this.to, d.snapshot.now);
  }

  /**
   * One 100 ms window of played audio. Silent: playing, the player's audio buffer holds the playhead, and
   * quieter than the threshold. Missing: audio is declared, not stalled, the video buffer holds the playhead
   * and the audio buffer does not.
   */
  private audioWindow(e: EventOf<'audio-level'>): void {
    const c = this.carry;
    if (
      c.firstFrameAt === undefined ||
      e.t < c.firstFrameAt ||
      e.t < this.from ||
      c.offlineSince !== undefined
    )
      return;
    this.audioWindows++;
    if (c.stallEndedAt !== undefined && e.t - AUDIO_WINDOW_MS < c.stallEndedAt + STALL_RESUME_MS) return;
    if (e.carried === true) {
      if (!e.playing || c.openStallAt !== undefined) return;
      this.audioDb.push(e.db);
      if (e.db < c.silenceDbfs) this.silentAt.push(e.t);
    } else if (c.audioDeclared && e.playing && e.video === true && c.openStallAt === undefined) {
      // Only while the picture plays on: a stall (audio downloads behind video) is a stall, not missing audio.
      this.missingAt.push(e.t);
    }
  }

  /** Windows within STALL_RESUME_MS of a stall (either side), including one still open at the period end. */
  private nearStall(): (t: number) => boolean {
    const spans = [...this.stallSpans];
    const c = this.carry;
    if (c.openStallAt !== undefined) spans.push([c.openStallAt, this.to]);
    return (t) =>
      spans.some(([a, b]) => t - AUDIO_WINDOW_MS < b + STALL_RESUME_MS && t > a - STALL_RESUME_MS);
  }

  /**
   * Silent windows, less those within STALL_RESUME_MS of a stall: the stall detection (the element's
   * waiting / playing, or the playhead not moving) can be drained after the audio windows it cuts short,
   * and a short stall's output silence must not read as silence of the stream.
   */
  private silentMs(): number {
    const near = this.nearStall();
    return this.silentAt.filter((t) => !near(t)).length * AUDIO_WINDOW_MS;
  }

  /**
   * Missing windows, less those within STALL_RESUME_MS of a stall: when the audio buffer runs dry first, the
   * element plays on for a moment with video and no audio before it reports the stall, and that moment is the
   * stall, not a stream that lost its audio.
   */
  private missingMs(): number {
    const near = this.nearStall();
    return this.missingAt.filter((t) => !near(t)).length * AUDIO_WINDOW_MS;
  }

  /**
   * Pairs each sync tone with the nearest marked frame within half a marker period: offset = tone output
   * time - marked frame display time. Marked frames come one marker period apart, so within +/- half a period
   * of a tone there is at most one: the pairing is final as soon as the tone and a marked frame in that
   * window have both been drained (plus a margin for frames presented but not yet drained), without waiting
   * for frames that could only be nearer if the marker were not periodic. A tone with no marked frame in
   * the window waits out the whole window.
   */
  private pairAv(now: number): void {
    const c = this.carry;
    const keep: number[] = [];
    for (const ta of c.avTones) {
      let best: number | undefined;
      for (const tm of c.avMarks)
        if (Math.abs(ta - tm) < AV_PAIR_MS && (best === undefined || Math.abs(ta - tm) < Math.abs(ta - best)))
          best = tm;
      const settled =
        best !== undefined
          ? now - AV_PAIR_SETTLE_MS > Math.max(ta, best)
          : now >= ta + AV_PAIR_MS + AV_PAIR_SETTLE_MS;
      if (!settled) {
        keep.push(ta);
        continue;
      }
      if (best !== undefined) {
        this.avMarker.push(ta - best);
        c.avMarkerSeen = true;
      }
    }
    c.avTones = keep;
    c.avMarks = c.avMarks.filter((tm) => tm > now - 3 * AV_PAIR_MS);
  }

  /** The picture state showing since c.picture.since ends at t: a lasting mismatch becomes a finding. */
  private closePicture(t: number): void {
    const p = this.carry.picture;
    if (!p) return;
    const ms = t - p.since;
    const overlap = this.overlap(p.since, t);
    if (ms < RESOLUTION_MIN_MS || overlap <= 0) return;
    const l = this.carry.levels[p.level];
    if (!l?.width || !l.height) return;
    const off = (got: number, want: number) => Math.abs(got - want) > Math.max(8, want * 0.05);
    if (!off(p.width, l.width) && !off(p.height, l.height)) return;
    const m = this.mismatches.get(p.level);
    if (m) m.ms += overlap;
    else
      this.mismatches.set(p.level, {
        at: Math.max(p.since, this.from),
        width: p.width,
        height: p.height,
        ms: overlap,
      });
  }

  /** The player is gone at t (browser died, or restarting after a fatal error): close what it had open. */
  goOffline(t: number): void {
    const c = this.carry;
    this.credit(t);
    if (c.openStallAt !== undefined) this.stallMs += this.overlap(c.openStallAt, t);
    if (c.openFrozenAt !== undefined) this.frozenMs += this.overlap(c.openFrozenAt, t);
    if (c.openBlackAt !== undefined) this.blackMs += this.overlap(c.openBlackAt, t);
    c.openStallAt = c.openFrozenAt = c.openBlackAt = undefined;
    c.offlineSince ??= t;
    this.advance(t);
  }

  /** A player runs again from t. */
  goOnline(t: number): void {
    const c = this.carry;
    this.credit(t);
    if (c.offlineSince !== undefined) this.offlineMs += this.overlap(c.offlineSince, t);
    c.offlineSince = undefined;
    this.advance(t);
  }

  /** Time passes without a drain (no player to drain while offline). */
  advance(t: number): void {
    this.to = Math.max(this.to, t);
  }

  /** Playing now: first frame seen, not stalled, a player running. */
  private get playing(): boolean {
    const c = this.carry;
    return c.firstFrameAt !== undefined && c.openStallAt === undefined && c.offlineSince === undefined;
  }

  /**
   * Credits the playing time since the mark (inside this period) to the rendition displayed, and moves the mark
   * to t. Called at every change of rendition or of playing state, before the change is applied.
   */
  private credit(t: number, into = this.renditionMs): void {
    const c = this.carry;
    if (this.playing && c.renditionMark !== undefined) {
      const ms = this.overlap(c.renditionMark, t);
      if (ms > 0) {
        const l = c.level === undefined ? undefined : c.levels[c.level];
        const name = c.level === undefined ? 'unknown' : renditionName(c.levels, c.level);
        const entry = into.get(name) ?? {
          rendition: name,
          height: l?.height && l.height > 0 ? Math.round(l.height) : undefined,
          bitrate: l?.bitrate && l.bitrate > 0 ? Math.round(l.bitrate) : undefined,
          time_ms: 0,
        };
        entry.time_ms += ms;
        into.set(name, entry);
      }
    }
    if (into === this.renditionMs) c.renditionMark = Math.max(c.renditionMark ?? t, t);
  }

  /** Time per rendition up to the period end (the open stretch included), largest ladder rung first. */
  private renditionTimes(): RenditionTime[] {
    const all = new Map([...this.renditionMs].map(([k, v]) => [k, { ...v }]));
    this.credit(this.to, all);
    let out = [...all.values()];
    if (out.length > MAX_RENDITIONS_IN_REPORT)
      out = out.sort((a, b) => b.time_ms - a.time_ms).slice(0, MAX_RENDITIONS_IN_REPORT);
    return out
      .map((r) => ({ ...r, time_ms: r1(r.time_ms) }))
      .sort(
        (a, b) =>
          (b.height ?? -1) - (a.height ?? -1) ||
          (b.bitrate ?? -1) - (a.bitrate ?? -1) ||
          a.rendition.localeCompare(b.rendition),
      );
  }

  /** The part of [start, end] inside this period (intervals may start in an earlier one). */
  private overlap(start: number, end: number): number {
    return Math.max(0, end - Math.max(start, this.from));
  }

  /** Session state so far (read-only view). */
  get state(): Readonly<Carry> {
    return this.carry;
  }

  /** State for the next period. */
  next(): Carry {
    const c = structuredClone(this.carry);
    c.lastSnapshot = { ...(this.snapshot ?? this.startSnapshot ?? zeroSnapshot), now: this.to };
    if (this.firstFrameThisPeriod || (this.isFirstPeriod && c.firstFrameAt !== undefined))
      c.startupReported = true;
    return c;
  }

  /**
   * The period's report data. `clock` (the agent's estimate against the reference clock) corrects the
   * figures that compare our clock with the painter's or packager's: g2g, PDT latency and the dash.js latency
   * (read on our clock, unclamped: harness.js). Samples still negative after that are counted as clock skew.
   */
  finish(clock?: { offsetMs: number; uncertaintyMs: number }): PeriodData {
    const c = this.carry;
    const m: Metrics = {};
    const off = clock?.offsetMs ?? 0;
    const g2gSamples = off ? this.g2g.map((v) => v - off) : this.g2g;
    const pdtSamples = off ? this.pdt.map((v) => v - off) : this.pdt;
    // dash.js latency is read on this machine's clock too (harness.js): the same correction and skew count.
    const dashSamples = off ? this.dash.map((v) => v - off) : this.dash;
    const played = c.firstFrameAt !== undefined;
    let renditions: RenditionTime[] | undefined;

    let startup: StartupBreakdown | undefined;
    if (!c.startupReported && (this.isFirstPeriod || this.firstFrameThisPeriod)) {
      // Observers of the parts learn at different delays: bounded into causal order (startup.ts).
      startup = causalStartup(c.startup);
      if (startup.manifest_ms !== undefined) m.manifest_ms = startup.manifest_ms;
      if (startup.first_segment_ms !== undefined) m.first_segment_ms = startup.first_segment_ms;
      if (startup.first_frame_ms !== undefined) m.startup_ms = startup.first_frame_ms;
      if (Object.keys(startup).length === 0) startup = undefined;
    }

    // Nothing drained from any player (e.g. the run never got a browser): nothing was measured.
    const measured = this.snapshot !== undefined || this.startSnapshot !== undefined;
    if (measured) m.segments_total = this.segmentsTotal;
    const tt = percentiles(this.ttfb, [50, 95]);
    if (tt) {
      m.segment_ttfb_p50_ms = r1(tt[50]);
      m.segment_ttfb_p95_ms = r1(tt[95]);
    }
    const dl = percentiles(this.download, [50, 95]);
    if (dl) {
      m.segment_download_p50_ms = r1(dl[50]);
      m.segment_download_p95_ms = r1(dl[95]);
    }
    const tp = percentiles(this.throughput, [50]);
    if (tp) m.segment_throughput_p50_kbps = r1(tp[50]);

    let latencyMethod: LatencyMethod | undefined;
    const g = percentiles(g2gSamples, [50, 95, 100]);
    if (g) {
      m.g2g_p50_ms = r1(g[50]);
      m.g2g_p95_ms = r1(g[95]);
      m.g2g_max_ms = r1(g[100]);
      latencyMethod = 'stamp';
    }
    const p = percentiles(pdtSamples, [50, 95]);
    if (p) {
      m.pdt_latency_p50_ms = r1(p[50]);
      m.pdt_latency_p95_ms = r1(p[95]);
      latencyMethod ??= 'pdt';
    }
    const dl50 = percentiles(dashSamples, [50]);
    if (dl50) {
      m.dash_latency_p50_ms = r1(dl50[50]);
      latencyMethod ??= 'dash';
    }
    if (g2gSamples.length + pdtSamples.length + dashSamples.length > 0) {
      let negative = 0;
      for (const xs of [g2gSamples, pdtSamples, dashSamples]) for (const v of xs) if (v < 0) negative++;
      m.clock_skew_negative = negative;
      if (clock) m.clock_uncertainty_ms = r1(clock.uncertaintyMs);
    }

    if (played) {
      let stallMs = this.stallMs;
      if (c.openStallAt !== undefined) stallMs += this.overlap(c.openStallAt, this.to);
      let offlineMs = this.offlineMs;
      if (c.offlineSince !== undefined) offlineMs += this.overlap(c.offlineSince, this.to);
      const watched = Math.max(0, this.to - Math.max(this.from, c.firstFrameAt ?? this.to) - offlineMs);
      const playingMs = Math.max(0, watched - stallMs);
      m.stall_count = this.stallCount;
      m.stall_ms = r1(stallMs);
      if (stallMs + playingMs > 0)
        m.rebuffer_ratio = Math.min(1, Math.round((stallMs / (stallMs + playingMs)) * 1e4) / 1e4);
      m.bitrate_switches = this.switches;
      renditions = this.renditionTimes();
      let frozenMs = this.frozenMs;
      if (c.openFrozenAt !== undefined) frozenMs += this.overlap(c.openFrozenAt, this.to);
      let blackMs = this.blackMs;
      if (c.openBlackAt !== undefined) blackMs += this.overlap(c.openBlackAt, this.to);
      m.frozen_ms = r1(frozenMs);
      m.black_ms = r1(blackMs);
      const end = this.snapshot ?? this.startSnapshot;
      if (end) {
        const start = this.startSnapshot ?? zeroSnapshot;
        m.dropped_frames = Math.max(0, end.dropped - start.dropped);
        m.total_frames = Math.max(0, end.total - start.total);
      }
    }

    let avMethod: AvMethod | undefined;
    const findings: Finding[] = [];
    if (played) {
      const lv = percentiles(this.audioDb, [50]);
      if (lv) m.audio_level_p50_dbfs = r1(lv[50]);
      if (this.audioWindows > 0 && (this.audioDb.length > 0 || c.audioDeclared))
        m.silent_ms = this.silentMs();
      const missingMs = this.missingMs();
      if (this.audioWindows > 0 && c.audioDeclared) m.audio_missing_ms = missingMs;
      const av =
        percentiles(this.avMarker, [50]) ?? (c.avMarkerSeen ? undefined : percentiles(this.avBuffer, [50]));
      if (av) {
        avMethod = this.avMarker.length > 0 ? 'marker' : 'buffer';
        m.av_offset_ms = r1(av[50]);
        m.av_offset_abs_ms = Math.abs(m.av_offset_ms);
      }
      if (c.captions !== undefined) {
        const playingMs = (renditions ?? []).reduce((a, r) => a + r.time_ms, 0);
        if (playingMs >= 10_000) m.caption_cues_per_min = r1((this.cues * 60_000) / playingMs);
      }
      if (missingMs >= AUDIO_MISSING_MIN_MS)
        findings.push({
          code: 'audio-missing',
          severity: 'critical',
          variant: 'audio',
          at: Math.round((c.startWall ?? 0) + this.from),
          count: 1,
          evidence: `the stream declares audio but none played for ${(missingMs / 1000).toFixed(1)} s while the picture had data`,
        });
      else if (this.audioEmpty && c.audioDeclared !== false)
        findings.push({
          code: 'audio-missing',
          severity: 'critical',
          variant: 'audio',
          at: Math.round((c.startWall ?? 0) + this.audioEmpty.at),
          count: 1,
          evidence: `the stream declares audio but ${this.audioEmpty.count} audio segment(s) carried none (the player found no media in them)`,
        });
      // The picture showing at the period end counts up to it (without closing it: it carries on).
      this.closePicture(this.to);
      for (const [level, mm] of this.mismatches) {
        const l = c.levels[level];
        findings.push({
          code: 'resolution-mismatch',
          severity: 'warning',
          variant: l?.url ? reportUrl(l.url) : renditionName(c.levels, level),
          at: Math.round((c.startWall ?? 0) + mm.at),
          count: 1,
          evidence: `decoded ${mm.width}x${mm.height}, declared ${l?.width}x${l?.height} for ${renditionName(c.levels, level)} (${l?.bitrate ? `${Math.round(l.bitrate / 1000)} kbit/s` : 'bitrate unknown'}) for ${(mm.ms / 1000).toFixed(1)} s`,
        });
      }
    }

    if (measured) {
      m.errors_http = this.errorCounts.http;
      m.errors_network = this.errorCounts.network;
      m.errors_player = this.errorCounts.player;
    }

    const s0 = this.startSnapshot ?? zeroSnapshot;
    const s1 = this.snapshot ?? s0;
    const decode = { attempts: s1.decodeAttempts - s0.decodeAttempts, ok: s1.decodeOk - s0.decodeOk };
    let g2g: PeriodData['g2g'];
    if (this.g2g.length > 0)
      g2g = {
        method: 'stamp',
        ...(this.g2gStrip ? { strip: this.g2gStrip } : {}),
        ...(this.g2gInjector !== undefined ? { injectorId: this.g2gInjector } : {}),
      };
    else if (decode.attempts > 0) g2g = { method: 'none' };
    return {
      metrics: m,
      startup,
      segments: [...this.segments],
      errors: [...this.errors],
      notices: [...this.notices.values()],
      latencyMethod,
      played,
      fatal: this.fatal,
      harnessErrors: [...this.harnessErrors],
      decode,
      g2g,
      from: this.from,
      to: this.to,
      renditions,
      sketches: sketchesOf({
        segment_ttfb_ms: this.ttfb,
        segment_download_ms: this.download,
        segment_throughput_kbps: this.throughput,
        g2g_ms: g2gSamples,
        pdt_latency_ms: pdtSamples,
        dash_latency_ms: dashSamples,
      }),
      avMethod,
      findings,
    };
  }
}

const zeroSnapshot: HarnessSnapshot = {
  now: 0,
  dropped: 0,
  total: 0,
  currentTime: 0,
  stalled: false,
  level: -1,
  decodeAttempts: 0,
  decodeOk: 0,
};

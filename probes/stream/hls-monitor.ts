/**
 * HLS: the master (reloaded every TD/2, or masterIntervalS; variants added/removed as it changes; a failing
 * reload is a manifest-unavailable finding) and one monitor per
 * media playlist, each comparing every reload with the previous one. Reloads follow RFC 8216 6.3.4: after a
 * change wait TARGETDURATION, after no change TARGETDURATION/2, measured from the start of the previous
 * request, plus a small positive jitter. All timing goes through the prober's single scheduler.
 */

import { redactUrl } from '../../shared/log.js';
import { BitrateMeter, segmentSize } from './checks/bandwidth.js';
import { checkDiscontinuitySequence } from './checks/discontinuity.js';
import { checkEndlist } from './checks/endlist.js';
import { checkLastModified } from './checks/last-modified.js';
import { manifestUnavailable } from './checks/manifest.js';
import { checkPdt } from './checks/pdt.js';
import { checkMediaSequence } from './checks/sequence.js';
import { slowObservation, slowSummary } from './checks/slow.js';
import { checkStale, staleLimitMs } from './checks/stale.js';
import { checkExtinf, checkTargetDuration, checkWindow } from './checks/target.js';
import { checkVariantDiscontinuity, checkVariantDrift, type DriftEntry } from './checks/variant-drift.js';
import { cmcdMediaType } from './cmcd.js';
import { redactUri } from './evidence.js';
import type { HttpOk, HttpResult } from './http.js';
import { type HlsSegment, lastSn, type MasterEntry, type MediaPlaylist, type Observation } from './model.js';
import { PublicationPhase } from './phase.js';
import { mono, type Task, task } from './scheduler.js';
import { MASTER, type Session } from './session.js';

const DEFAULT_TD_S = 2;

function clampTd(td: number | undefined): number {
  if (td === undefined || !Number.isFinite(td) || td <= 0) return DEFAULT_TD_S;
  return Math.min(Math.max(td, 0.2), 60);
}

/** Playlist request timeout: 2 x TD within [4 s, 10 s] (players wait about as long; hls.js: 10 s). */
function playlistTimeoutMs(s: Session, tdS: number): number {
  return s.opts.requestTimeoutMs ?? Math.min(Math.max(2 * tdS * 1000, 4000), 10_000);
}

function header(r: HttpOk, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Jittered wait: never earlier than the spec interval, at most `jitter` later (at least a quarter of it). */
export function jittered(intervalMs: number, jitter: number): number {
  return intervalMs * (1 + jitter * (0.25 + 0.75 * Math.random()));
}

export class HlsRun {
  private readonly media = new Map<string, MediaMonitor>();
  private readonly masterTask: Task;
  private readonly driftTask: Task;
  private masterInFlight = false;
  /** The entry URL turned out to be a media playlist: no master to reload. */
  private direct = false;
  private lastMasterBody: Buffer | string | undefined;
  /** Entries of the last master (the over-budget error is recorded once per change). */
  private lastMasterCount = 0;
  /** Failed entry reloads in a row, and the wall time of the last one that worked. */
  private entryFailures = 0;
  private entryOkAt: number | undefined;

  constructor(
    readonly session: Session,
    readonly url: string,
  ) {
    this.masterTask = task(() => {
      this.loadMaster().catch((err) => {
        session.internalError = `master: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
      });
    });
    this.driftTask = task(() => this.drift());
  }

  start(): void {
    this.session.svc.scheduler.schedule(this.masterTask, mono());
  }

  stop(): void {
    const s = this.session.svc.scheduler;
    s.cancel(this.masterTask);
    s.cancel(this.driftTask);
    for (const m of this.media.values()) m.stop();
    this.media.clear();
  }

  /** Another rendition of this master is live (for endlist-in-live on a first load). */
  siblingsLive(except: MediaMonitor): boolean {
    for (const m of this.media.values()) if (m !== except && m.prev && !m.prev.endList) return true;
    return false;
  }

  private playlistTimeout(tdS = DEFAULT_TD_S): number {
    return playlistTimeoutMs(this.session, tdS);
  }

  private async loadMaster(): Promise<void> {
    const s = this.session;
    if (s.closed || this.masterInFlight) return;
    this.masterInFlight = true;
    const started = mono();
    try {
      const r = await s.svc.http.request(this.url, {
        keepBody: true,
        timeoutMs: this.playlistTimeout(),
        maxBytes: s.opts.maxPlaylistBytes,
        signal: s.signal,
      });
      await s.preparse('hls', r);
      if (s.closed) return;
      this.acceptEntry(r, started);
    } catch (err) {
      s.internalError = `master handling: ${String((err as Error)?.message ?? err)}`;
    } finally {
      this.masterInFlight = false;
      if (!s.closed && !this.direct) {
        s.svc.scheduler.schedule(this.masterTask, started + jittered(this.masterReloadMs(), s.opts.jitter));
      }
    }
  }

  /**
   * The master's reload interval: explicit (masterIntervalS), or half the smallest target duration among the
   * renditions followed (the RFC's wait for a playlist that did not change, which a master rarely does), so
   * a master that starts failing shows within about one media playlist poll.
   */
  masterReloadMs(): number {
    const explicit = this.session.opts.masterIntervalS;
    if (explicit !== undefined && explicit > 0) return explicit * 1000;
    let td: number | undefined;
    for (const m of this.media.values()) {
      const t = m.prev?.targetDuration;
      if (t !== undefined && Number.isFinite(t) && t > 0 && (td === undefined || t < td)) td = t;
    }
    return Math.min(Math.max((clampTd(td) / 2) * 1000, 500), 10_000);
  }

  /** The entry document failed on this reload (not a policy refusal or our own abort): manifest-unavailable. */
  private entryFailed(r: HttpResult, invalid?: string): void {
    const s = this.session;
    s.entry(false);
    if (!r.ok && (r.kind === 'aborted' || r.kind === 'blocked')) return;
    this.entryFailures++;
    const obs = manifestUnavailable({
      what: 'master playlist',
      url: redactUrl(r.url),
      status: r.ok && invalid === undefined ? r.status : undefined,
      error: r.ok ? undefined : r.error,
      timedOut: !r.ok && r.kind === 'timeout',
      invalid,
      failures: this.entryFailures,
      lastOkAt: this.entryOkAt,
    });
    s.observe(MASTER, obs);
    // Until a reload works: a hanging master's timeout can outlast a watch interval.
    s.hold(MASTER, obs);
  }

  private entryWorked(): void {
    this.session.entry(true);
    if (this.entryFailures > 0) this.session.ended(MASTER, 'manifest-unavailable');
    this.entryFailures = 0;
    this.entryOkAt = Date.now();
  }

  /** Handles a response for the entry URL (request started at `started`): a master, or a lone media playlist. */
  acceptEntry(r: HttpResult, started: number): void {
    const s = this.session;
    if (s.requestFailed(MASTER, 'master', r) || !r.ok) {
      this.entryFailed(r);
      return;
    }
    if (s.sameBody(r, this.lastMasterBody)) {
      this.entryWorked();
      return;
    }
    if (!s.looksLikeMaster(r) && this.media.size === 0) {
      // The URL is a media playlist: follow it as the only rendition.
      const parsed = s.parseMedia(r);
      if (!parsed.ok) {
        s.invalidDocument(MASTER, r.url, 'playlist', parsed.error);
        this.entryFailed(r, parsed.error);
        return;
      }
      this.entryWorked();
      this.direct = true;
      const name = nameFromUrl(r.url);
      const m = new MediaMonitor(this, { name, url: r.url, type: 'video', group: 'video' });
      this.media.set(r.url, m);
      s.renditions.add(name);
      m.ingest(started, r);
      return;
    }
    const parsed = s.parseMaster(r);
    if (!parsed.ok) {
      s.invalidDocument(MASTER, r.url, 'master playlist', parsed.error);
      this.entryFailed(r, parsed.error);
      return;
    }
    this.entryWorked();
    this.lastMasterBody = s.bodyKey(r);
    const entries = parsed.value.entries.slice(0, s.opts.maxRenditions);
    if (
      parsed.value.entries.length > entries.length &&
      this.lastMasterCount !== parsed.value.entries.length
    ) {
      // A per-run budget of objects: each rendition is a playlist reloaded every few seconds plus segments.
      s.error(
        'conformance',
        'manifest-too-large',
        `master lists ${parsed.value.entries.length} renditions; following the first ${entries.length}`,
        { url: r.url },
      );
    }
    this.lastMasterCount = parsed.value.entries.length;
    if (entries.length === 0) {
      s.invalidDocument(MASTER, r.url, 'master playlist', 'no variant or rendition with a URI');
      return;
    }
    const wanted = new Set(entries.map((e) => e.url));
    for (const [url, m] of this.media) {
      if (!wanted.has(url)) {
        m.stop();
        this.media.delete(url);
        s.renditions.delete(m.entry.name);
      }
    }
    // Spread first loads a little: a master with thousands of variants must not fire them in one tick.
    const spreadMs = Math.min(1000, entries.length * 2);
    const now = mono();
    for (const e of entries) {
      const known = this.media.get(e.url);
      if (known) {
        // Same URI, maybe a new BANDWIDTH / AVERAGE-BANDWIDTH: the bitrate check follows the master.
        known.entry = e;
        continue;
      }
      const m = new MediaMonitor(this, e);
      this.media.set(e.url, m);
      s.renditions.add(e.name);
      m.scheduleAt(now + Math.random() * spreadMs, undefined);
    }
    if (this.driftTask.slot < 0) s.svc.scheduler.schedule(this.driftTask, now + DEFAULT_TD_S * 1000);
  }

  /** The media playlist monitors (for tests and the replay harness). */
  monitors(): MediaMonitor[] {
    return [...this.media.values()];
  }

  /** Cross-rendition checks (drift, discontinuity numbering), once per target duration. */
  drift(): void {
    const s = this.session;
    if (s.closed) return;
    const now = mono();
    const wall = Date.now();
    let td = DEFAULT_TD_S;
    const entries: DriftEntry[] = [];
    for (const m of this.media.values()) {
      if (!m.prev || m.failing) continue;
      td = clampTd(m.prev.targetDuration);
      // Only playlists refreshed within about one reload: an old snapshot is not evidence of drift.
      if (now - m.lastOkAt > td * 1000 + 1000) continue;
      entries.push({
        variant: m.entry.name,
        group: m.entry.group,
        playlist: m.prev,
        ageMs: wall - m.prev.fetchedAt,
      });
    }
    if (entries.length >= 2) {
      const found = [
        ...checkVariantDrift(entries, s.opts.thresholds.variantDriftSegments),
        ...checkVariantDiscontinuity(entries),
      ];
      for (const { variant, obs } of found) s.observe(variant, obs);
    }
    s.svc.scheduler.schedule(this.driftTask, now + td * 1000);
  }
}

function nameFromUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname.split('/').filter(Boolean).slice(-2).join('/') || u.pathname;
  } catch {
    return url.slice(0, 200);
  }
}

export class MediaMonitor {
  prev: MediaPlaylist | undefined;
  private prevBody: Buffer | string | undefined;
  /**
   * The newest segment's URI and when (monotonic) the response that first listed it arrived: a stale age
   * measured from there to a later request start never flatters the stream, whatever the queueing.
   */
  private newestUri: string | undefined;
  private newestSince = 0;
  private newestSnap: MediaPlaylist | undefined;
  private staleOpen = false;
  /** Findings whose condition lasts (stale episode, ENDLIST): repeated into each interval report. */
  private readonly ongoing = new Map<string, Observation>();
  private readonly task: Task;
  private stopped = false;
  /** Spec due time (the RFC earliest) and spec interval of the pending reload, for the lateness measurement. */
  private specDue: number | undefined;
  private specInterval = 0;
  private plannedDue = 0;
  /** Wall time the previous reload started (what it did not list was not published yet). */
  private prevStartWall: number | undefined;
  private readonly phase = new PublicationPhase(25 + Math.random() * 50);
  /** The pending reload is aimed at the segment with this PDT end (epoch ms). */
  private aimedAt: number | undefined;
  failing = false;
  lastOkAt = 0;
  private readonly bitrate = new BitrateMeter();
  /** Consecutive downloaded segments judged slow (segment-slow persists: critical). */
  private slowStreak = 0;

  constructor(
    readonly run: HlsRun,
    public entry: MasterEntry,
  ) {
    this.task = task(() => {
      this.poll().catch((err) => {
        run.session.internalError = `${entry.name}: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
      });
    });
  }

  private get session(): Session {
    return this.run.session;
  }

  stop(): void {
    this.stopped = true;
    this.session.svc.scheduler.cancel(this.task);
    for (const code of this.ongoing.keys()) this.session.ended(this.entry.name, code as Observation['code']);
  }

  scheduleAt(due: number, spec: { due: number; interval: number } | undefined): void {
    if (this.stopped || this.session.closed) return;
    this.specDue = spec?.due;
    this.specInterval = spec?.interval ?? 0;
    this.plannedDue = due;
    this.session.svc.scheduler.schedule(this.task, due);
  }

  private async poll(): Promise<void> {
    const s = this.session;
    if (this.stopped || s.closed) return;
    const start = mono();
    const startWall = Date.now();
    s.poll(
      this.specDue !== undefined && this.specInterval > 0
        ? {
            latePct: ((start - this.specDue) / this.specInterval) * 100,
            driftPct: ((start - this.plannedDue) / this.specInterval) * 100,
          }
        : undefined,
    );
    let r: HttpResult;
    try {
      const td = clampTd(this.prev?.targetDuration);
      r = await s.svc.http.request(this.entry.url, {
        keepBody: true,
        timeoutMs: playlistTimeoutMs(s, td),
        maxBytes: s.opts.maxPlaylistBytes,
        signal: s.signal,
      });
    } catch (err) {
      s.internalError = `request: ${String((err as Error)?.message ?? err)}`;
      return;
    }
    await s.preparse('hls', r);
    if (this.stopped || s.closed) return;
    this.ingest(start, r, startWall);
  }

  /**
   * Handles one reload (request started at `start`, monotonic; `startWall` the same instant on the wall
   * clock) and schedules the next: TD after a change, TD/2 after none (RFC 8216 6.3.4), aimed just after
   * the expected publication once the phase is known, and never earlier than the RFC allows.
   */
  ingest(start: number, r: HttpResult, startWall = Date.now() - (mono() - start)): void {
    const s = this.session;
    let changed = false;
    let fresh = false;
    try {
      const out = this.handle(start, startWall, r);
      changed = out.changed;
      fresh = out.fresh;
    } catch (err) {
      s.internalError = `${this.entry.name}: ${String((err as Error)?.stack ?? err).slice(0, 300)}`;
    }
    this.prevStartWall = startWall;
    const td = clampTd(this.prev?.targetDuration);
    const interval = (changed ? td : td / 2) * 1000;
    const spec = { due: start + interval, interval };
    let due = start + jittered(interval, s.opts.jitter);
    this.aimedAt = undefined;
    const newest = this.prev?.segments[this.prev.segments.length - 1];
    if (fresh && newest?.pdt !== undefined && Number.isFinite(newest.duration) && newest.duration > 0) {
      const segMs = newest.duration * 1000;
      // The next segment ends one duration after the newest one does.
      const plan = this.phase.plan(startWall + interval, newest.pdt + 2 * segMs, segMs);
      if (plan) {
        due = start + (plan.at - startWall);
        if (!plan.clamped) this.aimedAt = plan.target;
      }
    }
    // After a reload that showed nothing new, reload right after the stale limit rather than up to TD/2
    // later (waiting longer is always allowed).
    if (!changed && !this.staleOpen && this.newestSnap && this.prev) {
      const limit = staleLimitMs(this.prev, s.opts.thresholds.staleFactor);
      if (limit !== undefined) {
        const deadline = this.newestSince + limit + 1;
        if (deadline > due && deadline - due < interval / 2) due = deadline;
      }
    }
    this.scheduleAt(due, spec);
  }

  /** Whether the playlist changed, and whether it listed a new segment. */
  private handle(start: number, startWall: number, r: HttpResult): { changed: boolean; fresh: boolean } {
    const arrived = mono();
    const arrivedWall = Date.now();
    const s = this.session;
    const name = this.entry.name;
    if (s.requestFailed(name, 'media playlist', r) || !r.ok) {
      this.failing = true;
      return { changed: false, fresh: false };
    }
    this.failing = false;
    this.lastOkAt = mono();
    const observations: Observation[] = [];
    let changed = false;
    let fresh = false;
    if (this.prev && s.sameBody(r, this.prevBody)) {
      // Unchanged: nothing to parse.
    } else {
      const parsed = s.parseMedia(r);
      if (!parsed.ok) {
        s.invalidDocument(name, r.url, 'media playlist', parsed.error);
        return { changed: false, fresh: false };
      }
      const cur = parsed.value;
      if (cur.segments.length === 0 && s.looksLikeMaster(r)) {
        s.invalidDocument(
          name,
          r.url,
          'media playlist',
          'a multivariant playlist where a media playlist was expected',
        );
        return { changed: false, fresh: false };
      }
      changed = true;
      const prev = this.prev;
      const t = s.opts.thresholds;
      observations.push(
        ...checkMediaSequence(prev, cur, { elapsedMs: prev ? cur.fetchedAt - prev.fetchedAt : 0 }),
        ...checkDiscontinuitySequence(prev, cur),
        ...checkExtinf(prev, cur),
        ...checkTargetDuration(prev, cur),
        ...checkWindow(cur, t.windowFactor),
        ...checkPdt(prev, cur, t.pdtToleranceMs),
        ...checkEndlist(prev, cur, this.run.siblingsLive(this)),
      );
      const newest = cur.segments[cur.segments.length - 1];
      if (newest && newest.uri !== this.newestUri) {
        const freshSegs = this.onNewSegments(prev, cur, r);
        this.learnPhase(prev, cur, freshSegs, observations, arrivedWall);
        fresh = true;
        this.newestUri = newest.uri;
        this.newestSince = arrived;
        this.newestSnap = cur;
        this.staleOpen = false;
      }
      this.prev = cur;
      this.prevBody = s.bodyKey(r);
    }
    if (this.aimedAt !== undefined) {
      // The reload was aimed at the segment ending at aimedAt: a hit if that one (or a later one) is listed.
      const last = this.prev?.segments[this.prev.segments.length - 1];
      const lastEnd = last?.pdt !== undefined ? last.pdt + last.duration * 1000 : Number.NaN;
      const segMs = Number.isFinite(last?.duration)
        ? last!.duration * 1000
        : clampTd(this.prev?.targetDuration) * 1000;
      this.phase.aimed(lastEnd >= this.aimedAt - 1, startWall, this.aimedAt, segMs);
    }
    // Unchanged: the same snapshot, seen again now (evidence shows when).
    const cur = changed ? this.prev! : seenAgain(this.prev!);
    observations.push(
      ...checkLastModified({
        lastModified: header(r, 'last-modified'),
        date: header(r, 'date'),
        now: Date.now(),
        unitS: cur.targetDuration,
        factor: s.opts.thresholds.lastModifiedFactor,
        playlist: cur,
      }),
    );
    if (this.newestSnap && !this.staleOpen) {
      const stale = checkStale({
        since: this.newestSnap,
        cur,
        ageMs: start - this.newestSince,
        factor: s.opts.thresholds.staleFactor,
        type: this.entry.type,
      });
      if (stale.length > 0) {
        this.staleOpen = true;
        observations.push(...stale);
      }
    }
    for (const o of observations) {
      s.observe(name, o);
      if (o.code === 'playlist-stale' || o.code === 'captions-stale' || o.code === 'endlist-in-live') {
        this.ongoing.set(o.code, o);
        s.hold(name, o);
      }
    }
    // Conditions still holding show in every interval report of a watch.
    if (!this.staleOpen && this.ongoing.delete('playlist-stale')) s.ended(name, 'playlist-stale');
    if (!this.staleOpen && this.ongoing.delete('captions-stale')) s.ended(name, 'captions-stale');
    if (!cur.endList && this.ongoing.delete('endlist-in-live')) s.ended(name, 'endlist-in-live');
    for (const o of this.ongoing.values()) s.ongoing(name, o);
    return { changed, fresh };
  }

  /** Feeds the publication phase; a PDT that cannot be trusted for timing starts it over. */
  private learnPhase(
    prev: MediaPlaylist | undefined,
    cur: MediaPlaylist,
    fresh: HlsSegment[],
    observations: Observation[],
    arrivedWall: number,
  ): void {
    if (!prev) return;
    if (
      fresh.length === 0 ||
      fresh.some((x) => x.discontinuity) ||
      observations.some((o) => o.code === 'pdt-drift' || o.code === 'mseq-regression')
    ) {
      this.phase.reset();
      return;
    }
    const ends: number[] = [];
    for (const x of fresh)
      if (x.pdt !== undefined && Number.isFinite(x.duration)) ends.push(x.pdt + x.duration * 1000);
    const last = fresh[fresh.length - 1]!;
    const segMs =
      Number.isFinite(last.duration) && last.duration > 0
        ? last.duration * 1000
        : clampTd(cur.targetDuration) * 1000;
    if (ends.length > 0) this.phase.observe(ends, this.prevStartWall, arrivedWall, segMs);
  }

  /** Availability delays and segment downloads for what is new; returns the new segments. */
  private onNewSegments(prev: MediaPlaylist | undefined, cur: MediaPlaylist, r: HttpOk): HlsSegment[] {
    const s = this.session;
    const now = cur.fetchedAt;
    const fresh = prev && lastSn(cur) > lastSn(prev) ? cur.segments.filter((x) => x.sn > lastSn(prev)) : [];
    // Availability delay: only for segments we saw appear (not the backlog of a first load).
    for (const seg of fresh) {
      if (seg.pdt !== undefined && Number.isFinite(seg.duration))
        s.availability(now - (seg.pdt + seg.duration * 1000));
    }
    const mode = s.opts.segmentFetch;
    if (mode === 'none') return fresh;
    const newest = cur.segments[cur.segments.length - 1];
    const list: HlsSegment[] = mode === 'all' && fresh.length > 0 ? fresh.slice(-10) : newest ? [newest] : [];
    for (const seg of list) this.fetchSegment(seg, cur, r.url);
    return fresh;
  }

  /** bandwidth-exceeded: this segment's real bitrate against the variant's BANDWIDTH / AVERAGE-BANDWIDTH. */
  private measureBitrate(
    seg: HlsSegment,
    status: number,
    bodyBytes: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    const s = this.session;
    const e = this.entry;
    if (e.type === 'subtitles' || (e.bandwidth === undefined && e.averageBandwidth === undefined)) return;
    if (!Number.isFinite(seg.duration) || seg.duration <= 0) return;
    const bytes = segmentSize(s.opts.segmentMethod, status, bodyBytes, headers, seg.byterange?.length);
    if (bytes === undefined) return;
    const found = this.bitrate.add(
      { bytes, durationS: seg.duration, sn: seg.sn },
      {
        protocol: 'hls',
        ...(e.bandwidth !== undefined ? { bandwidth: e.bandwidth } : {}),
        ...(e.averageBandwidth !== undefined ? { averageBandwidth: e.averageBandwidth } : {}),
      },
      s.opts.thresholds.bandwidthTolerance,
    );
    if (e.bandwidth) s.bandwidthRatio(e.name, (bytes * 8) / seg.duration / e.bandwidth);
    for (const o of found) s.observe(e.name, o);
  }

  private fetchSegment(seg: HlsSegment, playlist: MediaPlaylist, base: string): void {
    const s = this.session;
    if (!seg.uri) return;
    let url: string;
    try {
      url = new URL(seg.uri, base).href;
    } catch {
      s.invalidDocument(
        this.entry.name,
        base,
        'media playlist',
        `segment URI ${seg.uri.slice(0, 100)} does not resolve`,
      );
      return;
    }
    const name = this.entry.name;
    const f = s.opts.thresholds.slowSegmentFactor;
    const judged = s.opts.segmentMethod === 'GET' && Number.isFinite(seg.duration) && seg.duration > 0;
    const limitMs = judged ? f * seg.duration * 1000 : undefined;
    let reported = false;
    const slow = (summary: string, request: string) => {
      if (reported || s.closed) return;
      reported = true;
      this.slowStreak++;
      s.observe(name, slowObservation(summary, request, this.slowStreak, playlist, seg.sn));
    };
    const ok = s.svc.segments.submit({
      url,
      variant: name,
      cmcd: { ot: cmcdMediaType(this.entry.type), bandwidth: this.entry.bandwidth },
      sn: seg.sn,
      duration: Number.isFinite(seg.duration) ? seg.duration : undefined,
      byterange: seg.byterange,
      signal: s.signal,
      slow:
        limitMs !== undefined
          ? {
              durationMs: seg.duration * 1000,
              factor: f,
              onSlow: (v) =>
                slow(
                  slowSummary(seg.sn, seg.duration, v),
                  `GET ${redactUri(url)}: in progress, ${v.bytes}${v.totalBytes !== undefined ? ` of ${v.totalBytes}` : ''} bytes after ${Math.round(v.elapsedMs)} ms`,
                ),
            }
          : undefined,
      done: (res, sample) => {
        if (s.closed) return;
        if (s.requestFailed(name, 'segment', res, { sn: seg.sn, playlist })) return;
        if (!sample) return;
        s.segment(sample);
        if (res.ok) this.measureBitrate(seg, res.status, sample.bytes, res.headers);
        if (limitMs !== undefined && sample.download_ms > limitMs) {
          slow(
            `segment ${seg.sn} took ${(sample.download_ms / 1000).toFixed(2)} s to download, longer than its ${seg.duration} s duration (${Math.round((sample.bytes * 8) / sample.download_ms)} kbit/s)`,
            `GET ${sample.url}: ttfb ${sample.ttfb_ms} ms, transfer ${sample.transfer_ms} ms, ${sample.bytes} bytes`,
          );
        } else if (limitMs !== undefined && !reported) this.slowStreak = 0;
      },
    });
    if (!ok) s.segmentSkipped();
  }
}

/**
 * The same snapshot with a new fetch time. Copies property descriptors rather than spreading: a playlist
 * parsed in the worker reads its `text` from the response lazily, and a spread would decode it every reload.
 */
function seenAgain(p: MediaPlaylist): MediaPlaylist {
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(p)) as MediaPlaylist;
  copy.fetchedAt = Date.now();
  return copy;
}

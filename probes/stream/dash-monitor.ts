/**
 * DASH: the MPD is reloaded every minimumUpdatePeriod (or every segment duration when it has none), each
 * reload compared with the previous; the UTCTiming clock is sampled every few minutes; the live-edge segment
 * of every representation is fetched when it changes (segmentFetch newest|all) and must be available.
 */

import { redactUrl } from '../../shared/log.js';
import { BitrateMeter, minBufferTimeS, segmentSize } from './checks/bandwidth.js';
import { CaptionClock } from './checks/captions.js';
import { availabilityObs, checkDashClock, checkMpdStale, checkPublishTime } from './checks/dash.js';
import { checkLastModified } from './checks/last-modified.js';
import { manifestUnavailable } from './checks/manifest.js';
import { slowObservation, slowSummary } from './checks/slow.js';
import { cmcdMediaType } from './cmcd.js';
import {
  type DashRepresentation,
  edgeEndS,
  MANIFEST_TOO_LARGE,
  type MpdSnapshot,
  maxSegmentDurationS,
} from './dash/parse.js';
import { jittered } from './hls-monitor.js';
import type { HttpOk, HttpResult } from './http.js';
import type { Observation } from './model.js';
import { mono, type Task, task } from './scheduler.js';
import { MPD, type Session } from './session.js';

const CLOCK_REFRESH_MS = 5 * 60_000;

function header(r: HttpOk, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class DashRun {
  private prev: MpdSnapshot | undefined;
  private prevBody: Buffer | string | undefined;
  private readonly task: Task;
  private specDue: number | undefined;
  private specInterval = 0;
  private plannedDue = 0;
  /** Live edge (max end over representations, s since AST) and when (response arrival) it last advanced. */
  private edge: number | undefined;
  private edgeSince = 0;
  private edgeSnap: MpdSnapshot | undefined;
  /** publishTime (epoch ms), when it last increased (arrival, monotonic), how many times it did. */
  private publish: number | undefined;
  private publishSince = 0;
  private publishSnap: MpdSnapshot | undefined;
  private publishAdvances = 0;
  /** Deferred live-edge fetches (waiting for availability + grace). */
  private readonly pending = new Set<Task>();
  private staleOpen = false;
  private staleObs: Observation | undefined;
  /** Newest segment URI per representation, to fetch each live edge once. */
  private readonly edgeUri = new Map<string, string>();
  /** serverTime - ourTime, ms, from UTCTiming. */
  private clockOffset: number | undefined;
  private clockSource = 'our clock (no UTCTiming)';
  private clockAt = Number.NEGATIVE_INFINITY;
  private clockInFlight = false;
  /** Measured segment sizes per representation (bandwidth-exceeded). */
  private readonly bitrate = new Map<string, BitrateMeter>();
  /** Failed MPD reloads in a row, and the wall time of the last one that worked. */
  private mpdFailures = 0;
  private mpdOkAt: number | undefined;
  /** DASH text representations: whether their live-edge segments still carry current cues (issue #21). */
  private readonly captions = new Map<string, CaptionClock>();
  /** Consecutive live-edge segments judged slow, per representation. */
  private readonly slowStreak = new Map<string, number>();

  constructor(
    readonly session: Session,
    readonly url: string,
  ) {
    this.task = task(() => {
      this.poll().catch((err) => {
        session.internalError = `MPD poll: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
      });
    });
  }

  start(): void {
    this.session.svc.scheduler.schedule(this.task, mono());
  }

  stop(): void {
    this.session.svc.scheduler.cancel(this.task);
    for (const t of this.pending) this.session.svc.scheduler.cancel(t);
    this.pending.clear();
  }

  private async poll(): Promise<void> {
    const s = this.session;
    if (s.closed) return;
    const start = mono();
    s.poll(
      this.specDue !== undefined && this.specInterval > 0
        ? {
            latePct: ((start - this.specDue) / this.specInterval) * 100,
            driftPct: ((start - this.plannedDue) / this.specInterval) * 100,
          }
        : undefined,
    );
    let intervalS = 2;
    try {
      const r = await s.svc.http.request(this.url, {
        keepBody: true,
        timeoutMs: s.opts.requestTimeoutMs ?? 5000,
        maxBytes: s.opts.maxPlaylistBytes,
        signal: s.signal,
      });
      await s.preparse('mpd', r, this.clockOffset ?? 0);
      if (s.closed) return;
      intervalS = this.ingest(start, r);
    } catch (err) {
      s.internalError = `MPD handling: ${String((err as Error)?.stack ?? err).slice(0, 300)}`;
    }
    if (s.closed) return;
    const interval = intervalS * 1000;
    this.specDue = start + interval;
    this.specInterval = interval;
    this.plannedDue = start + jittered(interval, s.opts.jitter);
    s.svc.scheduler.schedule(this.task, this.plannedDue);
  }

  /** Handles one MPD reload; returns the next reload interval in seconds. */
  ingest(start: number, r: HttpResult): number {
    const s = this.session;
    const arrived = mono();
    if (s.requestFailed(MPD, 'MPD', r) || !r.ok) {
      this.mpdFailed(r);
      return this.reloadS(this.prev);
    }
    let cur = this.prev;
    // A $Number$ template's segment list depends on the clock: re-expand it even when the text is unchanged.
    if (!this.prev || !s.sameBody(r, this.prevBody) || (this.prev.dynamic && !this.prev.hasTimeline)) {
      const parsed = s.parseMpd(r, this.clockOffset ?? 0);
      if (!parsed.ok) {
        if (parsed.error.includes(MANIFEST_TOO_LARGE)) {
          // Refused by our own budget, not judged: no finding.
          s.entry(false);
          s.error('conformance', MANIFEST_TOO_LARGE, `MPD: ${parsed.error}`, { url: r.url });
        } else {
          s.invalidDocument(MPD, r.url, 'MPD', parsed.error);
          this.mpdFailed(r, parsed.error);
        }
        return this.reloadS(this.prev);
      }
      cur = parsed.value;
    }
    s.entry(true);
    if (this.mpdFailures > 0) s.ended(MPD, 'manifest-unavailable');
    this.mpdFailures = 0;
    this.mpdOkAt = Date.now();
    if (!cur) return 2;
    if (this.prev === undefined) for (const rep of cur.representations) s.renditions.add(rep.id);
    const prev = this.prev;
    const changed = cur !== prev;
    const t = s.opts.thresholds;
    const obs: Array<{ variant: string; o: Observation }> = [];
    if (changed) {
      for (const o of checkPublishTime(prev, cur)) obs.push({ variant: MPD, o });
      this.prev = cur;
      this.prevBody = s.bodyKey(r);
      if (cur.utcTiming && mono() - this.clockAt > CLOCK_REFRESH_MS)
        void this.syncClock(cur, r.url).catch(() => {});
    }
    // Live edge advance (request starts on both sides, as for HLS staleness).
    const edge = maxEdge(cur);
    if (edge !== undefined && (this.edge === undefined || edge > this.edge + 1e-6)) {
      this.edge = edge;
      this.edgeSince = arrived;
      this.edgeSnap = cur;
      this.endStale();
    }
    const pt = cur.publishTime;
    if (pt !== undefined && (this.publish === undefined || pt > this.publish)) {
      if (this.publish !== undefined) this.publishAdvances++;
      this.publish = pt;
      this.publishSince = arrived;
      this.publishSnap = cur;
      if (!cur.hasTimeline) this.endStale();
    }
    // A timeline must advance; a $Number$ MPD's publishTime, once seen advancing with its updates, too.
    const basis = cur.hasTimeline ? 'timeline' : this.publishAdvances >= 2 ? 'publishTime' : undefined;
    const since = basis === 'timeline' ? this.edgeSnap : this.publishSnap;
    if (basis && since && !this.staleOpen) {
      const stale = checkMpdStale({
        since,
        cur: changed ? cur : { ...cur, fetchedAt: Date.now() },
        ageMs: start - (basis === 'timeline' ? this.edgeSince : this.publishSince),
        factor: t.mpdStaleFactor,
        basis,
      });
      if (stale.length > 0) {
        this.staleOpen = true;
        this.staleObs = stale[0];
        if (stale[0]) s.hold(MPD, stale[0]);
        for (const o of stale) obs.push({ variant: MPD, o });
      }
    } else if (this.staleOpen && this.staleObs) s.ongoing(MPD, this.staleObs);
    const unitS = Math.max(cur.minimumUpdatePeriodS ?? 0, maxSegmentDurationS(cur) ?? 0);
    for (const o of checkLastModified({
      lastModified: header(r, 'last-modified'),
      date: header(r, 'date'),
      now: Date.now(),
      unitS: cur.hasTimeline && unitS > 0 ? unitS : undefined,
      factor: t.lastModifiedFactor,
      what: 'MPD',
    })) {
      obs.push({ variant: MPD, o });
    }
    // Clock: only for timelines (a $Number$ template's edge is computed from the clock by the parser itself),
    // and only while the timeline advances (a stuck one is mpd-stale, not an availability problem).
    if (changed && cur.hasTimeline && !this.staleOpen && (!cur.utcTiming || this.clockOffset !== undefined)) {
      const segS = maxSegmentDurationS(cur) ?? 2;
      for (const { variant, obs: o } of checkDashClock({
        cur,
        serverNow: cur.fetchedAt + (this.clockOffset ?? 0),
        clockSource: this.clockSource,
        toleranceMs: t.dashEarlyToleranceMs,
        behindLimitMs: (t.dashLateSegments * segS + (cur.minimumUpdatePeriodS ?? 0)) * 1000,
      })) {
        obs.push({ variant, o });
      }
    }
    for (const { variant, o } of obs) s.observe(variant, o);
    if (changed || prev === undefined) this.edges(cur, prev === undefined);
    return this.reloadS(cur);
  }

  private endStale(): void {
    if (this.staleOpen) this.session.ended(MPD, 'mpd-stale');
    this.staleOpen = false;
  }

  /** The MPD failed on this reload (not a policy refusal or our own abort): manifest-unavailable. */
  private mpdFailed(r: HttpResult, invalid?: string): void {
    const s = this.session;
    s.entry(false);
    if (!r.ok && (r.kind === 'aborted' || r.kind === 'blocked')) return;
    this.mpdFailures++;
    const obs = manifestUnavailable({
      what: 'MPD',
      url: redactUrl(r.url),
      status: r.ok && invalid === undefined ? r.status : undefined,
      error: r.ok ? undefined : r.error,
      timedOut: !r.ok && r.kind === 'timeout',
      invalid,
      failures: this.mpdFailures,
      lastOkAt: this.mpdOkAt,
    });
    s.observe(MPD, obs);
    s.hold(MPD, obs);
  }

  private reloadS(cur: MpdSnapshot | undefined): number {
    if (!cur) return 2;
    const mup = cur.minimumUpdatePeriodS;
    const base = mup !== undefined && mup > 0 ? mup : (maxSegmentDurationS(cur) ?? 2);
    return Math.min(Math.max(base, 0.5), 30);
  }

  /** Fetches each representation's new live-edge segment; availability delay for timeline MPDs. */
  private edges(cur: MpdSnapshot, first: boolean): void {
    const s = this.session;
    for (const rep of cur.representations) {
      const last = rep.segments[rep.segments.length - 1];
      if (!last?.uri || this.edgeUri.get(rep.id) === last.uri) continue;
      this.edgeUri.set(rep.id, last.uri);
      if (
        !first &&
        cur.hasTimeline &&
        cur.availabilityStartTime !== undefined &&
        Number.isFinite(last.start)
      ) {
        const availableAt = cur.availabilityStartTime + (last.start + last.duration) * 1000;
        s.availability(cur.fetchedAt + (this.clockOffset ?? 0) - availableAt, this.clockOffset !== undefined);
      }
      if (s.opts.segmentFetch === 'none') continue;
      // Fetch once the segment has been available for the grace period (by the server's clock): a segment
      // requested at the very instant it becomes available may legitimately still be on its way.
      const availableAt =
        cur.availabilityStartTime !== undefined &&
        Number.isFinite(last.start) &&
        Number.isFinite(last.duration)
          ? cur.availabilityStartTime + (last.start + last.duration) * 1000
          : undefined;
      const wait =
        availableAt === undefined
          ? 0
          : availableAt + s.opts.thresholds.dashGraceMs - (Date.now() + (this.clockOffset ?? 0));
      if (wait <= 0) this.fetchEdge(cur, rep);
      else if (wait < 30_000) {
        const t = task(() => {
          this.pending.delete(t);
          if (!s.closed) this.fetchEdge(cur, rep);
        });
        this.pending.add(t);
        s.svc.scheduler.schedule(t, mono() + wait);
      }
    }
  }

  private fetchEdge(cur: MpdSnapshot, rep: DashRepresentation): void {
    const s = this.session;
    const last = rep.segments[rep.segments.length - 1]!;
    const judged = s.opts.segmentMethod === 'GET' && Number.isFinite(last.duration) && last.duration > 0;
    const factor = s.opts.thresholds.slowSegmentFactor;
    let reported = false;
    const slow = (summary: string, request: string) => {
      if (reported || s.closed) return;
      reported = true;
      const streak = (this.slowStreak.get(rep.id) ?? 0) + 1;
      this.slowStreak.set(rep.id, streak);
      s.observe(rep.id, slowObservation(summary, request, streak));
    };
    const ok = s.svc.segments.submit({
      url: last.uri,
      variant: rep.id,
      cmcd: { ot: cmcdMediaType(rep.type), bandwidth: rep.bandwidth },
      duration: Number.isFinite(last.duration) ? last.duration : undefined,
      signal: s.signal,
      keepBody: rep.type === 'subtitles',
      slow: judged
        ? {
            durationMs: last.duration * 1000,
            factor,
            onSlow: (v) =>
              slow(
                slowSummary(undefined, last.duration, v),
                `GET ${redactUrl(last.uri)}: in progress, ${v.bytes}${v.totalBytes !== undefined ? ` of ${v.totalBytes}` : ''} bytes after ${Math.round(v.elapsedMs)} ms`,
              ),
          }
        : undefined,
      done: (res, sample) => {
        if (s.closed) return;
        if (res.ok && res.status >= 200 && res.status < 300) {
          if (sample) {
            s.segment(sample);
            this.measureBitrate(cur, rep, last.duration, res.status, sample.bytes, res.headers);
            if (rep.type === 'subtitles' && res.status === 200) this.captionsAdvance(rep, last, res.body);
            if (judged && sample.download_ms > factor * last.duration * 1000)
              slow(
                `live-edge segment took ${(sample.download_ms / 1000).toFixed(2)} s to download, longer than its ${last.duration} s duration (${Math.round((sample.bytes * 8) / Math.max(1, sample.download_ms))} kbit/s)`,
                `GET ${sample.url}: ttfb ${sample.ttfb_ms} ms, transfer ${sample.transfer_ms} ms, ${sample.bytes} bytes`,
              );
            else if (judged && !reported) this.slowStreak.set(rep.id, 0);
          }
          return;
        }
        if ((!res.ok && res.kind === 'aborted') || s.blocked(res)) return;
        const what = res.ok ? `HTTP ${res.status}` : res.error;
        if (res.ok)
          s.error('http', `segment HTTP ${res.status}`, `segment ${rep.id}: ${what}`, {
            url: res.url,
            status: res.status,
          });
        else s.error('network', `segment ${res.kind}`, `segment ${rep.id}: ${what}`, { url: res.url });
        const summary = `live-edge segment of ${rep.id} listed by the MPD is not available: ${what}`;
        const availableAt =
          cur.availabilityStartTime !== undefined && Number.isFinite(last.start)
            ? cur.availabilityStartTime + (last.start + last.duration) * 1000
            : undefined;
        s.observe(
          rep.id,
          availabilityObs(summary, cur, rep, availableAt, `GET ${res.url.split('?')[0]} -> ${what}`),
        );
      },
    });
    if (!ok) s.segmentSkipped();
  }

  /** captions-stale: a text representation's live-edge segments carry only old cues (checks/captions.ts). */
  private captionsAdvance(
    rep: DashRepresentation,
    seg: DashRepresentation['segments'][number],
    body: string,
  ) {
    const s = this.session;
    let clock = this.captions.get(rep.id);
    if (!clock) {
      clock = new CaptionClock();
      this.captions.set(rep.id, clock);
    }
    const r = clock.add(seg, body, s.opts.thresholds.staleFactor);
    if (r?.stale) {
      s.observe(rep.id, r.stale);
      s.hold(rep.id, r.stale);
    } else if (r?.recovered) s.ended(rep.id, 'captions-stale');
  }

  /** bandwidth-exceeded: the live-edge segment against @bandwidth (a leaky bucket of minBufferTime). */
  private measureBitrate(
    cur: MpdSnapshot,
    rep: DashRepresentation,
    durationS: number,
    status: number,
    bodyBytes: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    const s = this.session;
    if (rep.type === 'subtitles' || !rep.bandwidth || !Number.isFinite(durationS) || durationS <= 0) return;
    const bytes = segmentSize(s.opts.segmentMethod, status, bodyBytes, headers);
    if (bytes === undefined) return;
    let meter = this.bitrate.get(rep.id);
    if (!meter) {
      meter = new BitrateMeter();
      this.bitrate.set(rep.id, meter);
    }
    const mbt = minBufferTimeS(cur.text);
    const found = meter.add(
      { bytes, durationS },
      { protocol: 'dash', bandwidth: rep.bandwidth, ...(mbt !== undefined ? { minBufferTimeS: mbt } : {}) },
      s.opts.thresholds.bandwidthTolerance,
    );
    s.bandwidthRatio(rep.id, (bytes * 8) / durationS / rep.bandwidth);
    for (const o of found) s.observe(rep.id, o);
  }

  /** UTCTiming: http-iso / http-xsdate (body), http-head (Date header), direct (value). NTP schemes: skipped. */
  private async syncClock(cur: MpdSnapshot, base: string): Promise<void> {
    const s = this.session;
    const timing = cur.utcTiming;
    if (!timing || this.clockInFlight) return;
    this.clockInFlight = true;
    this.clockAt = mono();
    try {
      const scheme = timing.scheme;
      if (/utc:direct:/.test(scheme)) {
        const t = Date.parse(timing.value);
        if (!Number.isNaN(t)) this.setClock(t - cur.fetchedAt, 'UTCTiming direct');
        return;
      }
      const head = /utc:http-head:/.test(scheme);
      if (!head && !/utc:http-(iso|xsdate):/.test(scheme)) return;
      const url = new URL(timing.value.split(/\s+/)[0] ?? '', base).href;
      const t0 = Date.now();
      const r = await s.svc.http.request(url, {
        method: head ? 'HEAD' : 'GET',
        keepBody: !head,
        timeoutMs: 3000,
        maxBytes: 4096,
        signal: s.signal,
      });
      const t1 = Date.now();
      if (!r.ok || r.status >= 300) return;
      const raw = head ? header(r, 'date') : r.body.trim();
      const server = raw ? Date.parse(raw) : Number.NaN;
      if (!Number.isNaN(server))
        this.setClock(server - (t0 + t1) / 2, `UTCTiming ${head ? 'http-head' : 'http-iso'}`);
    } catch {
      // clock stays as it was
    } finally {
      this.clockInFlight = false;
    }
  }

  private setClock(offset: number, source: string): void {
    this.clockOffset = offset;
    this.clockSource = `${source}, offset ${Math.round(offset)} ms`;
  }
}

function maxEdge(s: MpdSnapshot): number | undefined {
  let max: number | undefined;
  for (const r of s.representations) {
    const e = edgeEndS(r);
    if (e !== undefined && (max === undefined || e > max)) max = e;
  }
  return max;
}

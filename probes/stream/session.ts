/**
 * One run of the stream probe: what the monitors report into (findings, errors, segment timings,
 * availability delays, poll lateness) and how a window of that becomes a ProbeResult.
 */
import { setMaxListeners } from 'node:events';
import { redactUrl } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { ErrorCategory, Outcome, ProbeResult } from '../../shared/schemas.js';
import type { ProbeJob } from '../types.js';
import { type HttpFailure, httpStatusObservation, type Resource } from './checks/http.js';
import { type MpdSnapshot, parseMpd } from './dash/parse.js';
import { type BookEntry, isFindingCode, toFinding } from './findings.js';
import { parseMaster, parseMedia } from './hls/parse.js';
import type { HttpResult, RequestOptions } from './http.js';
import type { MasterPlaylist, MediaPlaylist, Observation, ParseResult } from './model.js';
import type { ResolvedOptions, SegmentSample } from './options.js';
import { OFFLOAD_BYTES, type Parsed, type ParsePool } from './parse-pool.js';
import type { Scheduler } from './scheduler.js';
import type { SegmentFetcher } from './segments.js';
import { round } from './stats.js';
import { Tally } from './tally.js';

/** Variant names of findings about the entry document rather than a rendition. */
export const MASTER = 'master';
export const MPD = 'mpd';

export interface Services {
  opts: ResolvedOptions;
  http: { request(url: string, o: RequestOptions): Promise<HttpResult> };
  scheduler: Scheduler;
  segments: Pick<SegmentFetcher, 'submit' | 'pending'>;
  /** Parses large documents off the event loop (absent: everything inline). */
  parser?: ParsePool;
  /** Prober-wide poll lateness (the bench and the self-check read it). */
  /**
   * Per reload: how late it started vs the RFC earliest time (% of the interval; includes deliberate aiming
   * and jitter), and vs the time it was planned for (% of the interval: the scheduler's own drift).
   */
  onPollLate(latePct: number, driftPct: number): void;
}

/** Scheduler drift p95 (percent of the reload interval) above which the probe reports itself overloaded. */
const OVERLOAD_LATE_PCT = 50;

export class Session {
  interval = new Tally();
  readonly total = new Tally();
  private readonly abort = new AbortController();
  readonly signal: AbortSignal = this.abort.signal;
  closed = false;
  /** Renditions currently followed (names as in findings). */
  readonly renditions = new Set<string>();
  /** Set when our own code failed: the outcome becomes probe-error. */
  internalError: string | undefined;
  /** Set when the egress policy refused a request: the outcome is a probe-error, never a stream failure. */
  blockedByPolicy: string | undefined;
  /**
   * Watch mode: called when a critical finding of a (code, variant), or a failed request, appears that the
   * previous interval did not have — news an on-call page should not wait the rest of the interval for. A
   * condition that persists is not news again in every interval.
   */
  onUrgent: (() => void) | undefined;
  private previous: Tally | undefined;
  /**
   * Conditions that hold until their monitor says they ended (a stale episode, an ENDLIST, a failing master):
   * carried into every new interval window, so a short window (after an early report) with no reload of that
   * rendition in it still says so.
   */
  private readonly holding = new Map<string, { variant: string; obs: Observation }>();
  /** The latest large body parsed in the worker, for the monitor's synchronous handling that follows. */
  private pre: { text: string; parsed: Parsed } | undefined;

  constructor(
    readonly svc: Services,
    readonly job: ProbeJob,
  ) {
    // Every request in flight listens on this signal (hundreds with many renditions): not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  get opts(): ResolvedOptions {
    return this.svc.opts;
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }

  /**
   * Parses a large response body in the parse worker ahead of the monitor's (synchronous) handling, which
   * then finds it through parseMedia / parseMaster / parseMpd below instead of parsing on the event loop.
   */
  async preparse(kind: 'hls' | 'mpd', r: HttpResult, clockOffset = 0): Promise<void> {
    const parser = this.svc.parser;
    if (!r.ok || r.body.length < OFFLOAD_BYTES || !parser?.available) return;
    const parsed = await parser.parse({ kind, text: r.body, fetchedAt: Date.now(), url: r.url, clockOffset });
    this.pre = { text: r.body, parsed };
  }

  private preparsed<T>(
    text: string,
    pick: (p: Parsed) => ParseResult<T> | undefined,
  ): ParseResult<T> | undefined {
    const pre = this.pre;
    // Identity first: the body handed to preparse is the very string handled now.
    if (!pre || pre.text !== text) return undefined;
    this.pre = undefined;
    return pick(pre.parsed) ?? (pre.parsed.error ? { ok: false, error: pre.parsed.error } : undefined);
  }

  parseMedia(text: string): ParseResult<MediaPlaylist> {
    return this.preparsed(text, (p) => p.media) ?? parseMedia(text, Date.now());
  }

  parseMaster(text: string, baseUrl: string): ParseResult<MasterPlaylist> {
    return this.preparsed(text, (p) => p.master) ?? parseMaster(text, Date.now(), baseUrl);
  }

  parseMpd(text: string, url: string, clockOffset: number): ParseResult<MpdSnapshot> {
    return this.preparsed(text, (p) => p.mpd) ?? parseMpd(text, Date.now(), url, clockOffset);
  }

  /**
   * Records an observation in both windows; fires onFinding the first time a (code, variant) appears, and
   * onUrgent when it is news: new in this window and not in the previous one (critical or a failed request),
   * or a condition that just became critical (a segment-slow that persists) and was not so before.
   */
  observe(variant: string, obs: Observation, at = Date.now()): void {
    const before = this.interval.book.severityOf(obs.code, variant);
    const fresh = this.interval.book.record(variant, at, obs).isNew;
    const prior = this.previous?.book.severityOf(obs.code, variant);
    const newlyCritical = obs.severity === 'critical' && before !== 'critical' && prior !== 'critical';
    if (
      (fresh && (obs.severity === 'critical' || obs.code === 'http-status') && prior === undefined) ||
      newlyCritical
    ) {
      this.onUrgent?.();
    }
    const { entry, isNew } = this.total.book.record(variant, at, obs);
    if (isNew && entry && isFindingCode(entry.code)) {
      try {
        this.opts.onFinding?.(toFinding(entry), this.job.target.id);
      } catch {
        // a listener's failure is not the stream's
      }
    }
  }

  /**
   * A condition found earlier that still holds (a stale episode, an ENDLIST): counted once in the run, but
   * present in every interval report while it lasts, so a watch keeps saying so.
   */
  ongoing(variant: string, obs: Observation, at = Date.now()): void {
    if (!this.interval.book.has(obs.code, variant)) this.interval.book.record(variant, at, obs);
  }

  /** Marks an observed condition as lasting: each later interval window starts with it, until ended(). */
  hold(variant: string, obs: Observation): void {
    this.holding.set(`${obs.code}\u0000${variant}`, { variant, obs });
  }

  /** The held condition (code, variant) is over. */
  ended(variant: string, code: Observation['code']): void {
    this.holding.delete(`${code}\u0000${variant}`);
  }

  error(
    category: ErrorCategory,
    type: string,
    details: string,
    extra: { url?: string; status?: number; fatal?: boolean } = {},
  ): void {
    const e = {
      at: Date.now(),
      category,
      type: type.slice(0, 200),
      details: details.slice(0, 1000),
      fatal: extra.fatal ?? false,
      status: extra.status,
      url: extra.url ? redactUrl(extra.url).slice(0, 2048) : undefined,
    };
    for (const t of [this.interval, this.total]) {
      t.errorsByCategory[category]++;
      t.errors.add(e);
    }
  }

  /**
   * A failed request for a document or segment: an error entry (http or network) and an http-status
   * observation on the variant. Returns true when it was a failure.
   */
  requestFailed(
    variant: string,
    resource: Resource,
    r: HttpResult,
    ctx: { sn?: number; playlist?: MediaPlaylist } = {},
  ): boolean {
    if (this.blocked(r)) return true;
    const f: HttpFailure = { resource, url: redactUrl(r.url), sn: ctx.sn, playlist: ctx.playlist };
    if (r.ok) {
      if (r.status >= 200 && r.status < 300) return false;
      f.status = r.status;
      this.error('http', `${resource} HTTP ${r.status}`, `${resource} ${variant}: HTTP ${r.status}`, {
        url: r.url,
        status: r.status,
      });
    } else {
      if (r.kind === 'aborted') return true;
      f.error = r.error;
      this.error('network', `${resource} ${r.kind}`, `${resource} ${variant}: ${r.error}`, { url: r.url });
    }
    this.observe(variant, httpStatusObservation(f));
    return true;
  }

  /**
   * A request the egress policy refused: recorded as a `blocked-by-policy` error, not as an HTTP observation,
   * since the stream did nothing wrong that we know of. Returns true when it was such a request.
   */
  blocked(r: HttpResult): boolean {
    if (r.ok || r.kind !== 'blocked') return false;
    this.blockedByPolicy ??= `${redactUrl(r.url)}: ${r.error}`;
    this.error('network', 'blocked-by-policy', r.error, { url: r.url });
    return true;
  }

  /** A document that came back 2xx but is not a valid playlist / MPD. */
  invalidDocument(variant: string, url: string, what: string, error: string): void {
    // A document over our size budgets is refused, not judged: its own error type.
    const type = error.includes('manifest-too-large') ? 'manifest-too-large' : `${what} invalid`;
    this.error('conformance', type, `${variant}: ${error}`, { url });
  }

  segment(sample: SegmentSample): void {
    const timing = {
      at: sample.at,
      rendition: sample.rendition,
      sn: sample.sn,
      url: sample.url,
      bytes: sample.bytes,
      ttfb_ms: sample.ttfb_ms,
      download_ms: sample.download_ms,
    };
    for (const t of [this.interval, this.total]) {
      t.segmentsTotal++;
      t.segments.add(timing);
      t.ttfb.add(sample.ttfb_ms);
      t.download.add(sample.download_ms);
      if (sample.bytes > 0 && sample.download_ms > 0)
        t.throughput.add((sample.bytes * 8) / sample.download_ms);
    }
  }

  segmentSkipped(): void {
    this.interval.segmentsSkipped++;
    this.total.segmentsSkipped++;
  }

  availability(ms: number): void {
    this.interval.availability.add(ms);
    this.total.availability.add(ms);
  }

  poll(late: { latePct: number; driftPct: number } | undefined): void {
    this.interval.polls++;
    this.total.polls++;
    if (late === undefined) return;
    this.interval.pollDriftPct.add(late.driftPct);
    this.total.pollDriftPct.add(late.driftPct);
    this.svc.onPollLate(late.latePct, late.driftPct);
  }

  entry(ok: boolean): void {
    for (const t of [this.interval, this.total]) {
      if (ok) t.entryOk++;
      else t.entryFailed++;
    }
  }

  /** Starts a new interval window and returns the finished one. */
  rotate(): Tally {
    const done = this.interval;
    this.interval = new Tally();
    this.previous = done;
    const now = Date.now();
    for (const { variant, obs } of this.holding.values()) this.interval.book.record(variant, now, obs);
    return done;
  }

  result(t: Tally, endedAt = Date.now()): ProbeResult {
    const metrics: Metrics = {
      errors_http: t.errorsByCategory.http,
      errors_network: t.errorsByCategory.network,
      errors_conformance: t.errorsByCategory.conformance + conformanceCount(t),
    };
    if (this.opts.segmentFetch !== 'none') metrics.segments_total = t.segmentsTotal;
    const set = (k: keyof Metrics, v: number | undefined) => {
      if (v !== undefined && Number.isFinite(v)) (metrics as Record<string, number>)[k] = v;
    };
    set('segment_ttfb_p50_ms', round(t.ttfb.percentile(50)));
    set('segment_ttfb_p95_ms', round(t.ttfb.percentile(95)));
    set('segment_download_p50_ms', round(t.download.percentile(50)));
    set('segment_download_p95_ms', round(t.download.percentile(95)));
    set('segment_throughput_p50_kbps', round(t.throughput.percentile(50)));
    set('segment_availability_delay_p50_ms', round(t.availability.percentile(50)));
    const { outcome, reasons } = this.verdict(t);
    return {
      target: this.job.target,
      probe: 'stream',
      mode: this.job.mode,
      startedAt: new Date(t.startedAt).toISOString(),
      endedAt: new Date(Math.max(endedAt, t.startedAt)).toISOString(),
      outcome,
      reasons,
      latency_method: t.availability.count > 0 ? 'pdt' : undefined,
      metrics,
      segments: t.segments.list(),
      errors: t.errors.entries(),
      findings: t.book.findings(),
    };
  }

  private verdict(t: Tally): { outcome: Outcome; reasons: string[] } {
    const reasons: string[] = [];
    const entries = t.book.all();
    const critical = new Set(entries.filter((e) => e.severity === 'critical').map((e) => e.variant));
    let outcome: Outcome = 'ok';
    const allRenditionsDown = this.renditions.size > 0 && [...this.renditions].every((r) => critical.has(r));
    const entryDown = t.entryOk === 0 && t.entryFailed > 0;
    const mpdDown = entries.some(
      (e) => e.variant === MPD && e.severity === 'critical' && e.code !== 'http-status',
    );
    if (entryDown)
      reasons.push(
        `the ${this.job.target.protocol === 'dash' ? 'MPD' : 'playlist'} could not be loaded (${t.entryFailed} attempts)`,
      );
    if (allRenditionsDown) reasons.push(`every rendition (${this.renditions.size}) has a critical finding`);
    if (entryDown || allRenditionsDown || mpdDown) outcome = 'failed';
    else if (
      entries.length > 0 ||
      t.errorsByCategory.http + t.errorsByCategory.network + t.errorsByCategory.conformance > 0
    ) {
      outcome = 'degraded';
    }
    const sorted = [...entries].sort((a, b) => rank(b) - rank(a) || b.count - a.count || a.at - b.at);
    for (const e of sorted.slice(0, 40)) reasons.push(reasonOf(e));
    if (sorted.length > 40) reasons.push(`…and ${sorted.length - 40} more finding(s)`);
    const errs = t.errorsByCategory;
    if (errs.http + errs.network + errs.conformance > 0) {
      reasons.push(
        `errors: ${errs.http} http, ${errs.network} network, ${errs.conformance} invalid documents`,
      );
    }
    if (t.segmentsSkipped > 0)
      reasons.push(`${t.segmentsSkipped} segment download(s) skipped: fetch queue full`);
    const driftP95 = t.pollDriftPct.percentile(95);
    if (t.pollDriftPct.count >= 20 && driftP95 !== undefined && driftP95 > OVERLOAD_LATE_PCT) {
      reasons.push(`probe overloaded: reloads start ${driftP95.toFixed(0)}% of their interval late (p95)`);
      if (outcome !== 'failed') outcome = 'probe-error';
    }
    if (this.blockedByPolicy) {
      reasons.unshift(`blocked-by-policy: ${this.blockedByPolicy}`);
      outcome = 'probe-error';
    }
    if (this.internalError) {
      reasons.unshift(`probe error: ${this.internalError}`);
      outcome = 'probe-error';
    }
    if (outcome === 'ok') reasons.push(`${this.renditions.size} rendition(s) conform; ${t.polls} reloads`);
    return { outcome, reasons: reasons.slice(0, 50).map((r) => r.slice(0, 500)) };
  }
}

function rank(e: BookEntry): number {
  return e.severity === 'critical' ? 2 : e.severity === 'warning' ? 1 : 0;
}

function reasonOf(e: BookEntry): string {
  return `${e.variant}: ${e.code}${e.count > 1 ? ` x${e.count}` : ''} — ${e.summary}`;
}

/** Conformance findings count as conformance errors (http-status is already counted as http/network). */
function conformanceCount(t: Tally): number {
  let n = 0;
  for (const e of t.book.all()) if (e.code !== 'http-status' && isFindingCode(e.code)) n += e.count;
  return n;
}

/**
 * One run of the stream probe: what the monitors report into (findings, errors, segment timings,
 * availability delays, poll lateness) and how a window of that becomes a ProbeResult.
 */
import { setMaxListeners } from 'node:events';
import type { ClockEstimate } from '../../shared/clock-offset.js';
import { redactUrl } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import { sketchesOf } from '../../shared/sample-sketch.js';
import type {
  ErrorCategory,
  Outcome,
  ProbeResult,
  ReportFlag,
  SampleSketches,
  SegmentPhases,
  SelfCheck,
} from '../../shared/schemas.js';
import { LATE_POLL_DRIFT_PCT, SelfWatch } from '../self-watch.js';
import type { ProbeJob } from '../types.js';
import { type HttpFailure, httpStatusObservation, type Resource } from './checks/http.js';
import { type MpdSnapshot, parseMpd } from './dash/parse.js';
import { type BookEntry, isFindingCode, toFinding } from './findings.js';
import { looksLikeMaster, parseMaster, parseMedia } from './hls/parse.js';
import type { HttpOk, HttpResult, RequestOptions } from './http.js';
import type { MasterPlaylist, MediaPlaylist, Observation, ParseResult } from './model.js';
import type { ResolvedOptions, SegmentSample } from './options.js';
import { OFFLOAD_BYTES, type Parsed, type ParsePool } from './parse-pool.js';
import type { Scheduler } from './scheduler.js';
import type { SegmentFetcher } from './segments.js';
import { type Reservoir, round } from './stats.js';
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

/** Findings that are news at once even as warnings: a failed request, a segment slower than real time. */
const URGENT_CODES: ReadonlySet<Observation['code']> = new Set(['http-status', 'segment-slow']);

/** Scheduler drift p95 (percent of the reload interval) above which the probe reports itself overloaded. */
const OVERLOAD_LATE_PCT = LATE_POLL_DRIFT_PCT;

/**
 * Findings that are judgements of time (something did not arrive soon enough): a probe that itself ran late
 * can produce them on a healthy stream, so with the probe late they make the report inconclusive.
 */
export const TIMING_CODES: ReadonlySet<string> = new Set([
  'playlist-stale',
  'mpd-stale',
  'segment-slow',
  'dash-availability',
  'variant-mseq-drift',
]);

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
  /** The agent's clock estimate (ProbeContext.clock); absent on a CLI run. */
  clock: (() => ClockEstimate | undefined) | undefined;
  private previous: Tally | undefined;
  /**
   * Conditions that hold until their monitor says they ended (a stale episode, an ENDLIST, a failing master):
   * carried into every new interval window, so a short window (after an early report) with no reload of that
   * rendition in it still says so.
   */
  private readonly holding = new Map<string, { variant: string; obs: Observation }>();
  /** Our own lateness (process-wide sampler); released by release() after the last result. */
  private readonly self = new SelfWatch();
  /** Large bodies parsed in the worker, by response, for the monitor's synchronous handling that follows. */
  private readonly pre = new WeakMap<HttpOk, Parsed>();

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

  /** After the last result: lets go of the self-watch sampler. */
  release(): void {
    this.self.close();
  }

  /**
   * Parses a large response body in the parse worker ahead of the monitor's (synchronous) handling, which
   * then finds it through parseMedia / parseMaster / parseMpd below instead of parsing on the event loop.
   * The body goes as bytes and is never decoded on the loop unless evidence needs its text.
   */
  async preparse(kind: 'hls' | 'mpd', r: HttpResult, clockOffset = 0): Promise<void> {
    const parser = this.svc.parser;
    if (!r.ok || r.bytes < OFFLOAD_BYTES || !parser?.available) return;
    const bytes = r.raw ?? Buffer.from(r.body, 'utf8');
    const parsed = await parser.parse({ kind, bytes, fetchedAt: Date.now(), url: r.url, clockOffset });
    for (const p of [parsed.media, parsed.master, parsed.mpd]) {
      if (!p?.ok) continue;
      // The worker sent the document back without its text: it reads the response's, decoded on demand.
      Object.defineProperty(p.value, 'text', { enumerable: true, configurable: true, get: () => r.body });
    }
    this.pre.set(r, parsed);
  }

  private preparsed<T>(
    r: HttpOk,
    pick: (p: Parsed) => ParseResult<T> | undefined,
  ): ParseResult<T> | undefined {
    const pre = this.pre.get(r);
    if (!pre) return undefined;
    return pick(pre) ?? (pre.error ? { ok: false, error: pre.error } : undefined);
  }

  /** What identifies a response body for "unchanged since the last reload" (bytes when we have them). */
  bodyKey(r: HttpOk): Buffer | string {
    return r.raw ?? r.body;
  }

  /** True when `r`'s body is the one `key` (from bodyKey) was taken from: compares bytes, no decoding. */
  sameBody(r: HttpOk, key: Buffer | string | undefined): boolean {
    if (key === undefined) return false;
    if (typeof key === 'string') return r.body === key;
    return r.raw ? r.raw.equals(key) : key.toString('utf8') === r.body;
  }

  /** looksLikeMaster, answered by the worker for a body it parsed. */
  looksLikeMaster(r: HttpOk): boolean {
    return this.pre.get(r)?.isMaster ?? looksLikeMaster(r.body);
  }

  parseMedia(r: HttpOk): ParseResult<MediaPlaylist> {
    const hit = this.preparsed(r, (p) => p.media);
    if (hit) return hit;
    // Kept for this response: a lone media playlist is parsed for the entry, then again for its monitor.
    const media = parseMedia(r.body, Date.now());
    this.pre.set(r, { media });
    return media;
  }

  parseMaster(r: HttpOk): ParseResult<MasterPlaylist> {
    return this.preparsed(r, (p) => p.master) ?? parseMaster(r.body, Date.now(), r.url);
  }

  parseMpd(r: HttpOk, clockOffset: number): ParseResult<MpdSnapshot> {
    return this.preparsed(r, (p) => p.mpd) ?? parseMpd(r.body, Date.now(), r.url, clockOffset);
  }

  /**
   * Records an observation in both windows; fires onFinding the first time a (code, variant) appears, and
   * onUrgent when it is news: new in this window and not in the previous one (critical, a failed request, or
   * a segment that cannot arrive in real time: a viewer on it stalls either way), or a condition that just
   * became critical (a segment-slow that persists) and was not so before.
   */
  observe(variant: string, obs: Observation, at = Date.now()): void {
    const before = this.interval.book.severityOf(obs.code, variant);
    const fresh = this.interval.book.record(variant, at, obs).isNew;
    const prior = this.previous?.book.severityOf(obs.code, variant);
    const newlyCritical = obs.severity === 'critical' && before !== 'critical' && prior !== 'critical';
    if (
      (fresh && (obs.severity === 'critical' || URGENT_CODES.has(obs.code)) && prior === undefined) ||
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
      f.timedOut = r.kind === 'timeout';
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
      connect_ms: sample.connect_ms,
      tls_ms: sample.tls_ms,
      transfer_ms: sample.transfer_ms,
      reused: sample.reused,
    };
    for (const t of [this.interval, this.total]) {
      t.segmentsTotal++;
      t.transfer.add(sample.transfer_ms);
      if (!sample.reused) {
        t.newConnections++;
        t.connect.add(sample.connect_ms);
        if (sample.tls_ms > 0) t.tls.add(sample.tls_ms);
      }
      t.segments.add(timing);
      t.ttfb.add(sample.ttfb_ms);
      t.download.add(sample.download_ms);
      t.sample('segment_ttfb_ms', sample.ttfb_ms);
      t.sample('segment_download_ms', sample.download_ms);
      if (sample.bytes > 0 && sample.download_ms > 0) {
        t.throughput.add((sample.bytes * 8) / sample.download_ms);
        t.sample('segment_throughput_kbps', (sample.bytes * 8) / sample.download_ms);
      }
    }
  }

  /** One segment's measured bitrate / declared bandwidth (the report's bandwidth_peak_ratio is the highest). */
  bandwidthRatio(_variant: string, ratio: number): void {
    if (!Number.isFinite(ratio) || ratio < 0) return;
    for (const t of [this.interval, this.total])
      t.bandwidthPeakRatio = Math.max(t.bandwidthPeakRatio ?? 0, ratio);
  }

  segmentSkipped(): void {
    this.interval.segmentsSkipped++;
    this.total.segmentsSkipped++;
  }

  /**
   * A segment's availability delay. Measured on our clock against the packager's PDT, it is corrected by the
   * agent's clock offset; `onReferenceClock` when it was already taken on the server's clock (DASH UTCTiming).
   * A value still negative is counted as clock skew and kept.
   */
  availability(ms: number, onReferenceClock = false): void {
    const c = onReferenceClock ? undefined : this.clock?.();
    const v = c ? ms - c.offsetMs : ms;
    for (const t of [this.interval, this.total]) {
      t.availability.add(v);
      t.sample('segment_availability_delay_ms', v);
      if (v < 0) t.skewNegative++;
      if (c) t.clockUncertaintyMs = c.uncertaintyMs;
    }
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
    if (t.bandwidthPeakRatio !== undefined) set('bandwidth_peak_ratio', round3(t.bandwidthPeakRatio));
    if (t.availability.count > 0) {
      metrics.clock_skew_negative = t.skewNegative;
      set('clock_uncertainty_ms', t.clockUncertaintyMs);
    }
    const { outcome, reasons, flags, self } = this.verdict(t);
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
      ...(t.segmentsTotal > 0 ? { segmentPhases: phaseSummary(t) } : {}),
      errors: t.errors.entries(),
      findings: t.book.findings(),
      ...(flags.length ? { flags } : {}),
      selfCheck: self,
      ...sketchField(t),
    };
  }

  private verdict(t: Tally): { outcome: Outcome; reasons: string[]; flags: ReportFlag[]; self: SelfCheck } {
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
    const driftLate = t.pollDriftPct.count >= 20 && driftP95 !== undefined && driftP95 > OVERLOAD_LATE_PCT;
    const self = this.self.check(t.startedAt, {
      figures: driftP95 !== undefined ? { poll_drift_p95_ratio: Math.round(driftP95) / 100 } : {},
      late: driftLate ? [`reloads started ${driftP95?.toFixed(0)}% of their interval late (p95)`] : [],
    });
    const flags: ReportFlag[] = [];
    const excusable = (e: BookEntry) => TIMING_CODES.has(e.code) || e.timing;
    const timing = [...new Set(entries.filter(excusable).map((e) => e.code))];
    // Critical findings our lateness cannot explain (an HTTP status, a broken document): the stream is broken
    // whatever we did, and stays so. A lesser one (a warning) does not outweigh a probe this unreliable: the
    // report is inconclusive, its findings kept but not counted, rather than paging on our own lateness.
    const theirs = [
      ...new Set(entries.filter((e) => !excusable(e) && e.severity === 'critical').map((e) => e.code)),
    ];
    if (self.late && timing.length > 0 && theirs.length > 0) {
      reasons.push(
        `the probe ran late (${self.cause}): ${timing.join(', ')} may be ours; ${theirs.join(', ')} cannot be`,
      );
    } else if (self.late && timing.length > 0) {
      // Our own lateness could explain what we found: not the stream's fault, and not ours to page for.
      reasons.unshift(`inconclusive: ${self.cause}; that alone could explain ${timing.join(', ')}`);
      flags.push('inconclusive');
      outcome = 'probe-error';
    } else if (driftLate) {
      reasons.push(`probe overloaded: reloads start ${driftP95?.toFixed(0)}% of their interval late (p95)`);
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
    return { outcome, reasons: reasons.slice(0, 50).map((r) => r.slice(0, 500)), flags, self };
  }
}

function sketchField(t: Tally): { sketches?: SampleSketches } {
  const sketches = sketchesOf(Object.fromEntries(t.sketches));
  return sketches ? { sketches } : {};
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

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function phaseStats(r: Reservoir): { p50: number; p95: number } | undefined {
  const p50 = round(r.percentile(50));
  const p95 = round(r.percentile(95));
  return p50 === undefined || p95 === undefined ? undefined : { p50, p95 };
}

/** The report's segmentPhases: every phase's p50/p95 over the period's downloads. */
function phaseSummary(t: Tally): SegmentPhases {
  const out: SegmentPhases = { samples: t.segmentsTotal, new_connection_count: t.newConnections };
  const put = (k: 'connect_ms' | 'tls_ms' | 'ttfb_ms' | 'transfer_ms', r: Reservoir) => {
    const v = phaseStats(r);
    if (v) out[k] = v;
  };
  put('connect_ms', t.connect);
  put('tls_ms', t.tls);
  put('ttfb_ms', t.ttfb);
  put('transfer_ms', t.transfer);
  return out;
}

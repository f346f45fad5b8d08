/**
 * The stream probe: playlist / MPD conformance and segment timing without a browser, for hundreds to
 * thousands of renditions per agent. One StreamProber serves any number of concurrent runs with one
 * scheduler (a single timer), one keep-alive pool per origin and one bounded segment fetcher.
 *
 *   const prober = new StreamProber({ segmentFetch: 'newest' });
 *   const summary = await prober.run({ target, mode: 'check', durationS: 60, expectations: {} },
 *                                    { signal, logger });
 */
import type { ProbeResult } from '../../shared/schemas.js';
import { type Authorizer, createAuthorizer } from '../../shared/target-auth.js';
import type { ProbeContext, ProbeJob, Prober } from '../types.js';
import { CmcdRun } from './cmcd.js';
import { DashRun } from './dash-monitor.js';
import { HlsRun } from './hls-monitor.js';
import { HttpClient, type HttpResult } from './http.js';
import { type ResolvedOptions, resolveOptions, type StreamProberOptions } from './options.js';
import { ParsePool } from './parse-pool.js';
import { mono, Scheduler, task } from './scheduler.js';
import { SegmentFetcher } from './segments.js';
import { Session } from './session.js';
import { Reservoir } from './stats.js';

/**
 * An early interval report (a new critical finding) comes at least this long after the previous report: short
 * enough to matter for a watch reporting every second, long enough that a flapping stream cannot flood.
 */
const EARLY_REPORT_MIN_GAP_MS = 250;

export type {
  SegmentFetch,
  SegmentMethod,
  SegmentSample,
  StreamProberOptions,
  Thresholds,
} from './options.js';
export { DEFAULT_THRESHOLDS } from './options.js';

/** Prober-wide self-measurement (the bench reads it; a watch reports overload from its own copy). */
export interface StreamProberStats {
  runs: number;
  polls: number;
  /**
   * Poll-interval drift: how late reloads started vs the time they were intended for (the RFC time plus
   * jitter, or the aim just after publication), % of the reload interval (TD or TD/2).
   */
  pollLateP50Pct?: number;
  pollLateP95Pct?: number;
  pollLateMaxPct?: number;
  /**
   * vs the earliest time RFC 8216 allows (TD or TD/2 after the previous request start), % of the interval:
   * includes the jitter and the deliberate waits of the publication-phase search and realignment.
   */
  pollRfcLateP50Pct?: number;
  pollRfcLateP95Pct?: number;
  /** Share of reloads deliberately planned more than 10 % of their interval after the RFC time. */
  deliberateLateShare?: number;
  /** How late the scheduler fired tasks vs their (jittered) due time, ms. */
  timerLateP95Ms?: number;
  segmentsPending: number;
  /** Large playlists / MPDs parsed off the event loop (parse-pool.ts). */
  parsedOffLoop: number;
}

export class StreamProber implements Prober {
  readonly kind = 'stream' as const;
  private readonly opts: ResolvedOptions;
  private readonly http: HttpClient;
  private readonly scheduler = new Scheduler();
  private readonly segments: SegmentFetcher;
  private readonly parser = new ParsePool();
  private readonly sessions = new Set<Session>();
  private late = new Reservoir(20_000);
  private drift = new Reservoir(20_000);
  private timerLate = new Reservoir(20_000);
  private driftMax = 0;
  private deliberate = 0;
  private polls = 0;
  private closed = false;

  constructor(options: StreamProberOptions = {}) {
    this.opts = resolveOptions(options);
    this.http = new HttpClient({
      maxSockets: this.opts.maxSocketsPerOrigin,
      headers: this.opts.headers,
      egress: this.opts.egress,
    });
    this.segments = new SegmentFetcher(this.http, this.scheduler, {
      maxConcurrent: this.opts.maxConcurrentSegments,
      method: this.opts.segmentMethod,
      rangeBytes: this.opts.rangeBytes,
      timeoutMs: this.opts.requestTimeoutMs ?? 15_000,
      onSegment: this.opts.onSegment,
    });
    this.scheduler.onLate = (ms) => this.timerLate.add(ms);
  }

  stats(): StreamProberStats {
    return {
      runs: this.sessions.size,
      polls: this.polls,
      pollLateP50Pct: this.drift.percentile(50),
      pollLateP95Pct: this.drift.percentile(95),
      pollLateMaxPct: this.drift.count > 0 ? this.driftMax : undefined,
      pollRfcLateP50Pct: this.late.percentile(50),
      pollRfcLateP95Pct: this.late.percentile(95),
      deliberateLateShare: this.polls > 0 ? this.deliberate / this.polls : undefined,
      timerLateP95Ms: this.timerLate.percentile(95),
      segmentsPending: this.segments.pending,
      parsedOffLoop: this.parser.offloaded,
    };
  }

  /** Clears the self-measurement (e.g. after a warm-up). */
  resetStats(): void {
    this.late = new Reservoir(20_000);
    this.drift = new Reservoir(20_000);
    this.timerLate = new Reservoir(20_000);
    this.driftMax = 0;
    this.deliberate = 0;
    this.polls = 0;
  }

  async run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult> {
    const logger = ctx.logger ?? this.opts.logger;
    // A protected target's credentials, resolved here on the agent; a missing secret is a probe-error.
    let authorize: Authorizer | undefined;
    let authError: string | undefined;
    try {
      authorize = job.auth
        ? createAuthorizer(job.target.url, job.auth, { dir: this.opts.secretsDir })
        : undefined;
    } catch (err) {
      authError = (err as Error).message;
    }
    const segments = this.segments;
    const c = this.opts.cmcd;
    const cmcd = c && c.mode !== 'off' ? new CmcdRun(c.mode, job.target.id, c.customKey) : undefined;
    // Per-run byte budget: what a hostile (or just enormous) stream may make this run download in all.
    const budget = this.opts.maxSessionBytes;
    let spent = 0;
    let overBudget = false;
    const spend = (r: HttpResult) => {
      spent += r.ok ? r.bytes : 0;
      if (spent > budget && !overBudget) {
        overBudget = true;
        session.error(
          'conformance',
          'budget-exceeded',
          `this run downloaded over ${Math.round(budget / 1048576)} MiB; no more segments are fetched`,
        );
      }
      return r;
    };
    const session: Session = new Session(
      {
        opts: this.opts,
        http: {
          request: async (url, o) => {
            const withCmcd = cmcd ? { ...o, cmcd: cmcd.wire({ ot: 'm' }) } : o;
            return spend(
              await this.http.request(
                url,
                authorize ? { ...withCmcd, authorize: o.authorize ?? authorize } : withCmcd,
              ),
            );
          },
        },
        scheduler: this.scheduler,
        parser: this.parser,
        segments: {
          submit: (j) => {
            // Over budget: the segment is neither fetched nor counted as skipped (the error says why).
            if (overBudget) return true;
            return segments.submit({
              ...j,
              authorize,
              ...(cmcd ? { cmcdWire: cmcd.wire(j.cmcd ?? { ot: 'o' }) } : {}),
              done: (r, sample) => {
                if (cmcd && sample) cmcd.segmentDone(sample.bytes, sample.download_ms);
                j.done(spend(r), sample);
              },
            });
          },
          get pending() {
            return segments.pending;
          },
        },
        onPollLate: (latePct, driftPct) => {
          this.polls++;
          this.late.add(latePct);
          this.drift.add(driftPct);
          if (driftPct > this.driftMax) this.driftMax = driftPct;
          if (latePct - driftPct > 10) this.deliberate++;
        },
      },
      job,
    );
    session.clock = ctx.clock;
    if (this.closed || authError) {
      session.internalError = authError ?? 'prober is closed';
      const refused = session.result(session.total);
      session.release();
      return refused;
    }
    this.sessions.add(session);
    const monitor =
      job.target.protocol === 'dash'
        ? new DashRun(session, job.target.url)
        : new HlsRun(session, job.target.url);
    const durationMs = Math.max(0, job.durationS * 1000);
    const intervalMs = job.mode === 'watch' ? Math.max(1, job.intervalS ?? 60) * 1000 : 0;
    const t0 = mono();
    const end = task(() => finish());
    let lastFlush = t0;
    const tick = task(() => {
      const now = mono();
      lastFlush = now;
      const done = session.rotate();
      try {
        ctx.onInterval?.(session.result(done));
      } catch (err) {
        logger?.warn({ err }, 'stream probe: onInterval listener failed');
      }
      // The next point of the t0 + k x interval grid: an early report (below) keeps the grid.
      this.scheduler.schedule(tick, t0 + (Math.floor((now - t0) / intervalMs) + 1) * intervalMs);
    });
    if (intervalMs > 0 && ctx.onInterval) {
      // A new critical finding or failed request is reported at once (at most one early report per 250 ms),
      // instead of waiting out the interval: a watch every 60 s still pages within seconds.
      session.onUrgent = () => {
        const due = Math.max(mono(), lastFlush + EARLY_REPORT_MIN_GAP_MS);
        if (tick.slot >= 0 && tick.due > due) this.scheduler.schedule(tick, due);
      };
    }
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    // Removed again in finally: an agent may hand the same signal to many runs.
    const onAbort = () => finish();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (!ctx.signal.aborted) {
        this.scheduler.schedule(end, t0 + durationMs);
        if (intervalMs > 0 && ctx.onInterval) this.scheduler.schedule(tick, t0 + intervalMs);
        try {
          monitor.start();
        } catch (err) {
          session.internalError = `start: ${String((err as Error)?.message ?? err)}`;
          finish();
        }
        await finished;
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      this.scheduler.cancel(end);
      this.scheduler.cancel(tick);
      monitor.stop();
      session.close();
      this.sessions.delete(session);
    }
    const summary = session.result(session.total);
    session.release();
    logger?.debug?.(
      { target: job.target.id, outcome: summary.outcome, findings: summary.findings.length },
      'stream probe done',
    );
    return summary;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sessions) s.close();
    this.scheduler.close();
    this.http.close();
    await this.parser.close();
  }
}

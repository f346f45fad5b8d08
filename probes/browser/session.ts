import { randomUUID } from 'node:crypto';
import type { BrowserContext, Page } from 'puppeteer-core';

import {
  CLOCK_BITS,
  CLOCK_COLS,
  CLOCK_STRIP_HEIGHT,
  clockBlockCentre,
  placementName,
  STRIP_PLACEMENTS,
  STRIP_ROWS,
  stripBlockCentre,
  stripRect,
} from '../../shared/clock.js';
import { EgressPolicy } from '../../shared/egress.js';
import type { Logger } from '../../shared/log.js';
import { redactUrl } from '../../shared/log.js';
import type { ProbeResult, ReportFlag } from '../../shared/schemas.js';
import { SYNC_MARK_MIN_DIFF, SYNC_MARKER, SYNC_PERIOD_S, SYNC_TONE_HZ } from '../../shared/sync-marker.js';
import { createAuthorizer } from '../../shared/target-auth.js';
import { SelfWatch } from '../self-watch.js';
import type { ProbeContext, ProbeJob } from '../types.js';
import { initialCarry, PeriodAccumulator, type PeriodData } from './aggregate.js';
import { guardPage } from './egress.js';
import {
  type DrainResult,
  type HarnessSnapshot,
  type HarnessStartConfig,
  parseDrain,
  type RenditionChoice,
} from './events.js';
import { classifyOutcome, describeFatal } from './outcome.js';
import type { Lease } from './pool.js';

export interface SessionOptions {
  harnessUrl: string;
  /** Every request of the page must pass it (agents); absent = no policy. */
  egress?: EgressPolicy;
  /** Protected targets' secrets directory (besides env LIVEPROBE_SECRET_<NAME>). */
  secretsDir?: string;
  /** Path of dash.js on the harness server (DASH targets need it). */
  dashScript?: string;
  decodeEvery: number;
  pdtEveryMs: number;
  /** Analyse the played audio (Web Audio); false keeps the element muted (no audio figures). */
  audio: boolean;
  /** 100 ms audio windows below this RMS level (dBFS) count as silent. */
  silenceDbfs: number;
  drainEveryMs: number;
  hlsConfig: Record<string, unknown>;
  freezeMinMs: number;
  blackMinMs: number;
  rendition?: RenditionChoice;
  /** CMCD query mode; sid is made per session here, cid is the target id. */
  cmcd?: { customKey?: string; customValue?: string | number | boolean };
}

/** The page-side API as Node sees it (the page's globalThis is its window). */
interface HarnessGlobal {
  __liveprobe?: {
    ready?: boolean;
    start(cfg: HarnessStartConfig): Promise<void>;
    drain(): unknown;
    stop(): void;
  };
}

const DRAIN_TIMEOUT_MS = 5000;
const OPEN_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 3000;
/** A watch relaunches a dead browser at most this often before giving up (a crash loop is our bug). */
const MAX_CRASH_RESTARTS = 3;
/** A watch retries a player stopped by a fatal error after this pause (the stream may come back). */
const FATAL_RETRY_MS = 5000;
/**
 * A restarted watch player that has not presented a frame this long is stuck (hls.js can stay wedged after
 * starting on an audio rendition without media, even once the media is back): it is replaced like a fatal one.
 */
const RESTART_FIRST_FRAME_MS = 15_000;

class Timeout extends Error {}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Timeout(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Block centres from shared/clock.ts, shipped to the page as data (the geometry has one definition). */
const CENTRES = Array.from({ length: CLOCK_BITS }, (_, i) => clockBlockCentre(i));
const BAND_CENTRES = Array.from({ length: CLOCK_COLS * STRIP_ROWS }, (_, i) => stripBlockCentre(i));
const PLACEMENTS = STRIP_PLACEMENTS.map((p) => ({ name: placementName(p), ...stripRect(p) }));

type StopReason = 'duration' | 'aborted' | 'died' | 'fatal' | 'harness';

/** One harness page playing. A watch may need several: after a browser crash, or a fatal player error. */
interface Run {
  lease: Lease;
  context?: BrowserContext;
  page?: Page;
  /** Added to this page's timeline to put it on the session's (undefined until its 'start' is drained). */
  offset?: number;
  /** Cumulative counters of the earlier runs, added to this page's own. */
  base: Pick<HarnessSnapshot, 'dropped' | 'total' | 'decodeAttempts' | 'decodeOk'>;
  died?: string;
  /** The browser stopped answering and was handed back to the pool to be killed. */
  broken: boolean;
  fatal: boolean;
  /** Date.now() when this page started playing, and whether it has presented a frame. */
  openedAt?: number;
  playing?: boolean;
  wake?: () => void;
}

/**
 * One playback session: its own browser context (cold cache, like a first-time viewer) in its own window
 * (background tabs do not play), a harness page, a drain loop, interval reports in watch mode, and a summary.
 * A check ends at the first fatal error or browser death; a watch restarts its player and carries on.
 */
export class BrowserSession {
  private readonly log: Logger;
  private readonly summary: PeriodAccumulator;
  private interval: PeriodAccumulator;
  private probeError?: string;
  /** A browser death inside the current watch interval (that interval is a probe-error). */
  private intervalProbeError?: string;
  private readonly startedAt = new Date();
  private intervalStart = this.startedAt;
  /** Wall time of the first loadSource (page clock): the session timeline's zero. */
  private timelineWall?: number;
  /** Date.now() just before the first loadSource (0 until then); the duration counts from here. */
  private playStart = 0;
  private nextInterval = 0;
  private lastSnapshot?: HarnessSnapshot;
  private crashes = 0;
  /** Our own lateness (the agent process), and the slowest drain round trip (renderer responsiveness). */
  private readonly self = new SelfWatch();
  private drainRttMax = { interval: 0, summary: 0 };
  /** Why the latest browser died. */
  private diedReason?: string;
  private restarts = 0;
  private wake?: () => void;

  constructor(
    private readonly job: ProbeJob,
    private readonly ctx: ProbeContext,
    private readonly acquire: (signal: AbortSignal) => Promise<Lease>,
    private readonly opts: SessionOptions,
  ) {
    this.log = ctx.logger.child({ target: job.target.id, session: 'browser' });
    this.summary = new PeriodAccumulator(initialCarry(opts.silenceDbfs));
    this.interval = new PeriodAccumulator(initialCarry(opts.silenceDbfs));
  }

  private get watch(): boolean {
    return this.job.mode === 'watch';
  }

  private get end(): number {
    return this.playStart + this.job.durationS * 1000;
  }

  /** Now on the session timeline (ms since the first loadSource). */
  private nowT(): number {
    return this.timelineWall === undefined ? 0 : Date.now() - this.timelineWall;
  }

  async run(): Promise<ProbeResult> {
    const onAbort = () => this.wake?.();
    this.ctx.signal.addEventListener('abort', onAbort);
    let stop: StopReason = 'duration';
    let lease: Lease | undefined;
    try {
      for (;;) {
        if (!lease) {
          try {
            lease = await this.acquire(this.ctx.signal);
          } catch (err) {
            if (this.ctx.signal.aborted) stop = 'aborted';
            else {
              this.probeError ??= (err as Error).message;
              stop = 'harness';
            }
            break;
          }
        }
        const run: Run = { lease, broken: false, fatal: false, base: this.counters() };
        const reason = await this.play(run);
        if (run.died || run.broken) {
          lease.release();
          lease = undefined;
        } else {
          await this.shutdown(run);
        }
        const resumable =
          this.watch &&
          !this.ctx.signal.aborted &&
          Date.now() < this.end - 1000 &&
          ((reason === 'died' && this.crashes < MAX_CRASH_RESTARTS) || reason === 'fatal');
        if (!resumable) {
          stop = reason;
          break;
        }
        // The player is gone until the next one starts: not playing time, and nothing stays open.
        const t = this.nowT();
        this.summary.goOffline(t);
        this.interval.goOffline(t);
        if (reason === 'died') {
          this.crashes++;
          this.log.warn({ reason: run.died }, 'browser died during a watch; relaunching and resuming');
        } else {
          this.log.info('fatal player error during a watch; retrying shortly');
          await this.idle(Math.min(FATAL_RETRY_MS, this.end - Date.now()));
          if (this.ctx.signal.aborted || Date.now() >= this.end) {
            stop = this.ctx.signal.aborted ? 'aborted' : 'duration';
            break;
          }
        }
        this.restarts++;
      }
    } finally {
      lease?.release();
      this.ctx.signal.removeEventListener('abort', onAbort);
    }
    const result = this.finish(stop);
    this.self.close();
    return result;
  }

  /** Opens a window, plays, drains until the run ends; never throws. */
  private async play(run: Run): Promise<StopReason> {
    const { browser, pid } = run.lease;
    const onDisconnect = () =>
      this.die(run, `browser died: Chromium (pid ${pid ?? '?'}) exited or disconnected`);
    browser.once('disconnected', onDisconnect);
    try {
      if (!browser.connected) this.die(run, 'browser died before the session started');
      await this.open(run);
      return await this.loop(run);
    } catch (err) {
      if (run.died) return 'died';
      this.probeError ??= `harness failed: ${(err as Error).message.split('\n')[0]}`;
      if (err instanceof Timeout) {
        run.broken = true;
        run.lease.markBroken(this.probeError);
      }
      return 'harness';
    } finally {
      browser.off('disconnected', onDisconnect);
    }
  }

  private die(run: Run, reason: string): void {
    if (run.died) return;
    run.died = reason;
    this.diedReason = reason;
    this.intervalProbeError ??= reason;
    run.wake?.();
    this.wake?.();
  }

  private counters(): Run['base'] {
    const s = this.lastSnapshot;
    return {
      dropped: s?.dropped ?? 0,
      total: s?.total ?? 0,
      decodeAttempts: s?.decodeAttempts ?? 0,
      decodeOk: s?.decodeOk ?? 0,
    };
  }

  private async open(run: Run): Promise<void> {
    run.context = await run.lease.browser.createBrowserContext();
    const page = await run.context.newPage({ type: 'window' });
    run.page = page;
    page.once('error', (err) => this.die(run, `page crashed: ${err.message}`));
    page.on('pageerror', (err) =>
      this.log.warn({ err: (err as Error).message }, 'uncaught error in harness page'),
    );
    const authorize = this.job.auth
      ? createAuthorizer(this.job.target.url, this.job.auth, { dir: this.opts.secretsDir })
      : undefined;
    if (this.opts.egress?.enforce || authorize) {
      const policy = this.opts.egress ?? EgressPolicy.open();
      const harnessOrigin = new URL(this.opts.harnessUrl).origin;
      const onBlocked = (url: string, reason: string) => {
        this.probeError ??= `blocked-by-policy: ${url}: ${reason}`;
        this.log.warn({ url, reason }, 'request blocked by the egress policy');
      };
      await guardPage(page, policy, harnessOrigin, onBlocked, authorize);
    }
    await withTimeout(
      page.goto(this.opts.harnessUrl, { waitUntil: 'load' }),
      OPEN_TIMEOUT_MS,
      'harness load',
    );
    const cfg: HarnessStartConfig = {
      url: this.job.target.url,
      protocol: this.job.target.protocol,
      dashScript: this.opts.dashScript,
      decodeEvery: this.opts.decodeEvery,
      pdtEveryMs: this.opts.pdtEveryMs,
      centres: CENTRES,
      stripHeight: CLOCK_STRIP_HEIGHT,
      placements: PLACEMENTS,
      bandCentres: BAND_CENTRES,
      hlsConfig: this.opts.hlsConfig,
      freezeMinMs: this.opts.freezeMinMs,
      blackMinMs: this.opts.blackMinMs,
      rendition: this.job.rendition ?? this.opts.rendition,
      ...(this.opts.audio
        ? {
            audio: {
              workletUrl: new URL('/audio-worklet.js', this.opts.harnessUrl).href,
              toneHz: SYNC_TONE_HZ,
            },
          }
        : {}),
      sync: { marker: SYNC_MARKER, minDiff: SYNC_MARK_MIN_DIFF, periodS: SYNC_PERIOD_S },
      cmcd: this.opts.cmcd && { sessionId: randomUUID(), contentId: this.job.target.id, ...this.opts.cmcd },
    };
    if (!this.playStart) {
      this.playStart = Date.now();
      this.nextInterval = this.playStart + Math.max(1, this.job.intervalS ?? 10) * 1000;
    }
    await withTimeout(
      page.evaluate((c) => {
        const h = (globalThis as unknown as HarnessGlobal).__liveprobe;
        if (!h?.ready) throw new Error('harness script did not load');
        return h.start(c);
      }, cfg),
      OPEN_TIMEOUT_MS,
      'harness start',
    );
    run.openedAt = Date.now();
    this.log.debug({ url: redactUrl(this.job.target.url), restart: this.restarts }, 'playback started');
  }

  /** Drains the page and puts its events on the session timeline (one timeline across restarts). */
  private async drain(run: Run): Promise<void> {
    const page = run.page;
    if (!page) return;
    const t0 = Date.now();
    const raw = await withTimeout(
      page.evaluate(() => (globalThis as unknown as HarnessGlobal).__liveprobe?.drain()),
      DRAIN_TIMEOUT_MS,
      'harness drain',
    );
    const rtt = Date.now() - t0;
    this.drainRttMax.interval = Math.max(this.drainRttMax.interval, rtt);
    this.drainRttMax.summary = Math.max(this.drainRttMax.summary, rtt);
    const d: DrainResult = parseDrain(raw);
    if (run.offset === undefined) {
      const start = d.events.find((e) => e.type === 'start');
      if (start && start.type === 'start') {
        this.timelineWall ??= start.wall;
        run.offset = start.wall - this.timelineWall;
      }
    }
    const off = run.offset ?? 0;
    // A restarted player is back only from its first frame: until then nothing plays, so that time is not
    // playing time and its audio windows say nothing (counting them gave silent_ms = 0 from a player that
    // never started).
    if (!run.playing) {
      const ff = d.events.find((e) => e.type === 'first-frame');
      if (ff) {
        run.playing = true;
        if (off > 0) {
          this.summary.goOnline(ff.t + off);
          this.interval.goOnline(ff.t + off);
        }
      }
    }
    if (off !== 0) {
      for (const e of d.events) {
        e.t += off;
        if (e.type === 'segment') {
          e.start += off;
          e.first += off;
          e.end += off;
        }
      }
    }
    const b = run.base;
    d.snapshot = {
      ...d.snapshot,
      now: d.snapshot.now + off,
      dropped: d.snapshot.dropped + b.dropped,
      total: d.snapshot.total + b.total,
      decodeAttempts: d.snapshot.decodeAttempts + b.decodeAttempts,
      decodeOk: d.snapshot.decodeOk + b.decodeOk,
    };
    this.lastSnapshot = d.snapshot;
    this.summary.add(d);
    this.interval.add(d);
    for (const e of d.events) {
      if (e.type === 'harness-error') this.probeError ??= `harness error: ${e.message}`;
      // No audio figures then (never zeros); the picture is still measured.
      if (e.type === 'audio-ready' && e.error)
        this.log.warn({ err: e.error }, 'audio analysis unavailable in the page');
      // The job asked for what the stream does not have (a pin matching no rendition): the probe's
      // configuration, not the stream, is at fault, and retrying will not help.
      if (e.type === 'error' && e.fatal && e.errType === 'probeConfig')
        this.probeError ??= `probe configuration: ${e.details}: ${e.reason ?? ''}`.trim();
      if (e.type === 'error' && e.fatal) run.fatal = true;
    }
  }

  /** Sleeps up to ms; woken early by abort or browser death. */
  private sleep(ms: number, run?: Run): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
      if (run) run.wake = done;
    });
  }

  /** Waits without a player (retry pause), still reporting watch intervals on time. */
  private async idle(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.ctx.signal.aborted && Date.now() < until) {
      await this.sleep(Math.min(until, this.nextInterval) - Date.now());
      this.maybeInterval();
    }
  }

  private async loop(run: Run): Promise<StopReason> {
    for (;;) {
      const now = Date.now();
      const until = Math.min(
        now + this.opts.drainEveryMs,
        this.end,
        this.watch ? this.nextInterval : this.end,
      );
      if (!this.ctx.signal.aborted && !run.died) await this.sleep(until - now, run);
      if (run.died) return 'died';
      try {
        await this.drain(run);
      } catch (err) {
        if (run.died) return 'died';
        throw err;
      }
      if (this.probeError) return 'harness';
      if (this.ctx.signal.aborted) return 'aborted';
      if (run.fatal) return 'fatal';
      if (Date.now() >= this.end) return 'duration';
      if (
        this.restarts > 0 &&
        !run.playing &&
        run.openedAt !== undefined &&
        Date.now() - run.openedAt > RESTART_FIRST_FRAME_MS
      ) {
        this.log.info('restarted player presented no frame; replacing it');
        return 'fatal';
      }
      this.maybeInterval();
    }
  }

  private maybeInterval(): void {
    if (!this.watch || Date.now() < this.nextInterval) return;
    const intervalMs = Math.max(1, this.job.intervalS ?? 10) * 1000;
    while (this.nextInterval <= Date.now()) this.nextInterval += intervalMs;
    this.interval.advance(this.nowT());
    const data = this.interval.finish(this.ctx.clock?.());
    this.interval = new PeriodAccumulator(this.interval.next());
    const endedAt = new Date();
    const result = this.toResult(
      data,
      this.intervalStart,
      endedAt,
      this.intervalProbeError,
      false,
      this.drainRttMax.interval,
    );
    this.drainRttMax.interval = 0;
    this.intervalStart = endedAt;
    this.intervalProbeError = undefined;
    try {
      this.ctx.onInterval?.(result);
    } catch (err) {
      this.log.error({ err }, 'onInterval callback threw');
    }
  }

  /** Final drain, stop the player, close the window (and its context). */
  private async shutdown(run: Run): Promise<void> {
    if (!run.page) return;
    try {
      await this.drain(run);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'final drain failed');
    }
    try {
      await withTimeout(
        run.page.evaluate(() => (globalThis as unknown as HarnessGlobal).__liveprobe?.stop()),
        CLOSE_TIMEOUT_MS,
        'harness stop',
      );
    } catch {}
    try {
      await withTimeout(
        run.context ? run.context.close() : run.page.close(),
        CLOSE_TIMEOUT_MS,
        'window close',
      );
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'window did not close');
    }
  }

  private finish(stop: StopReason): ProbeResult {
    // Time after the last drain (e.g. a crash) still belongs to the run.
    this.summary.advance(this.nowT());
    const data = this.summary.finish(this.ctx.clock?.());
    // Stopped from outside before the duration passed (or before playback even started).
    const aborted = stop === 'aborted' && (!this.playStart || Date.now() < this.end);
    // A watch that came back after a browser crash reports the stream; the crash itself is in its intervals.
    const probeError = stop === 'died' ? this.diedReason : stop === 'harness' ? this.probeError : undefined;
    const result = this.toResult(
      data,
      this.startedAt,
      new Date(),
      probeError,
      aborted,
      this.drainRttMax.summary,
    );
    if (this.crashes > 0 && result.outcome !== 'probe-error') {
      result.reasons.push(
        `browser died ${this.crashes}x during the watch; relaunched and playback restarted (not the stream's fault)`,
      );
    }
    this.log.info(
      {
        outcome: result.outcome,
        reasons: result.reasons,
        startup_ms: result.metrics.startup_ms,
        stop,
        restarts: this.restarts,
        clockDecoded: `${data.decode.ok}/${data.decode.attempts}`,
      },
      'browser probe finished',
    );
    return result;
  }

  private toResult(
    data: PeriodData,
    startedAt: Date,
    endedAt: Date,
    probeError: string | undefined,
    aborted: boolean,
    drainRttMaxMs: number,
  ): ProbeResult {
    const classified = classifyOutcome({
      probeError,
      played: data.played,
      waitedS: this.playStart ? (endedAt.getTime() - this.playStart) / 1000 : 0,
      periodS: (data.to - data.from) / 1000,
      aborted,
      fatal: data.fatal,
      metrics: data.metrics,
      latencyMethod: data.latencyMethod,
      expectations: this.job.expectations,
    });
    const { reasons } = classified;
    let { outcome } = classified;
    const selfCheck = this.self.check(startedAt.getTime(), {
      figures: drainRttMaxMs > 0 ? { drain_rtt_max_ms: drainRttMaxMs } : {},
    });
    let flags: ReportFlag[] | undefined;
    if (selfCheck.late && !data.fatal && (outcome === 'degraded' || outcome === 'failed')) {
      // Stalls, a frozen picture, a slow startup or no frame, seen by a probe that itself ran late: ours to
      // look at, not the stream's to be paged for. A fatal player error (an HTTP status) stays the stream's.
      reasons.unshift(`inconclusive: ${selfCheck.cause}; that alone could explain: ${reasons[0] ?? outcome}`);
      outcome = 'probe-error';
      flags = ['inconclusive'];
    }
    if (data.fatal && outcome === 'failed' && this.restarts > 0 && this.watch && data.played) {
      reasons.push(`${describeFatal(data.fatal)}: the player was restarted ${this.restarts}x`);
      reasons.shift();
    }
    return {
      target: this.job.target,
      probe: 'browser',
      mode: this.job.mode ?? 'check',
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      outcome,
      reasons: reasons.map((r) => r.slice(0, 500)),
      ...(flags ? { flags } : {}),
      selfCheck,
      latency_method: data.latencyMethod,
      ...(data.g2g?.method ? { g2g_method: data.g2g.method } : {}),
      ...(data.g2g?.injectorId !== undefined ? { g2g_injector_id: data.g2g.injectorId } : {}),
      ...(data.g2g?.strip ? { g2g_strip: data.g2g.strip } : {}),
      metrics: data.metrics,
      startup: data.startup,
      segments: data.segments,
      errors: data.errors,
      ...(data.notices.length ? { notices: data.notices } : {}),
      renditions: data.renditions,
      ...(data.sketches ? { sketches: data.sketches } : {}),
      ...(data.avMethod ? { av_method: data.avMethod } : {}),
      findings: data.findings,
    };
  }
}

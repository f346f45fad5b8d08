import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { CLOCK_BITS, CLOCK_STRIP_HEIGHT, clockBlockCentre } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { redactUrl } from '../../shared/log.js';
import type { ProbeResult } from '../../shared/schemas.js';
import type { ProbeContext, ProbeJob } from '../types.js';
import { initialCarry, PeriodAccumulator, type PeriodData } from './aggregate.js';
import { type DrainResult, type HarnessStartConfig, parseDrain, type RenditionChoice } from './events.js';
import { classifyOutcome } from './outcome.js';
import type { Lease } from './pool.js';

export interface SessionOptions {
  harnessUrl: string;
  decodeEvery: number;
  pdtEveryMs: number;
  drainEveryMs: number;
  hlsConfig: Record<string, unknown>;
  freezeMinMs: number;
  blackMinMs: number;
  rendition?: RenditionChoice;
  /** CMCD query mode; sid is made per session here, cid is the target id. */
  cmcd?: { customKey?: string; customValue?: string | number | boolean };
}

/** A ProbeJob plus browser-only choices (optional, so any ProbeJob is one). */
export type BrowserProbeJob = ProbeJob & { rendition?: RenditionChoice };

/** The page-side API as Node sees it (the page's globalThis is its window). */
interface HarnessGlobal {
  __liveprobe?: { ready?: boolean; start(cfg: HarnessStartConfig): void; drain(): unknown; stop(): void };
}

const DRAIN_TIMEOUT_MS = 5000;
const OPEN_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 3000;

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

type StopReason = 'duration' | 'aborted' | 'died' | 'fatal' | 'harness';

/**
 * One playback session: its own browser context (cold cache, like a first-time viewer) in its own window
 * (background tabs do not play), a harness page, a drain loop, interval reports in watch mode, and a summary.
 */
export class BrowserSession {
  private readonly log: Logger;
  private readonly summary = new PeriodAccumulator(initialCarry());
  private interval = new PeriodAccumulator(initialCarry());
  private probeError?: string;
  private diedReason?: string;
  private wake?: () => void;
  private readonly startedAt = new Date();
  private intervalStart = this.startedAt;
  /** The browser stopped answering and was handed back to the pool to be killed. */
  private broken = false;
  /** Date.now() when loadSource was called (0 until then). */
  private playStart = 0;

  constructor(
    private readonly job: BrowserProbeJob,
    private readonly ctx: ProbeContext,
    private readonly lease: Lease,
    private readonly opts: SessionOptions,
  ) {
    this.log = ctx.logger.child({ target: job.target.id, session: 'browser' });
  }

  async run(): Promise<ProbeResult> {
    const { browser } = this.lease;
    const onDisconnect = () =>
      this.die(`browser died: Chromium (pid ${this.lease.pid ?? '?'}) exited or disconnected`);
    browser.once('disconnected', onDisconnect);
    const onAbort = () => this.wake?.();
    this.ctx.signal.addEventListener('abort', onAbort);
    let context: BrowserContext | undefined;
    let page: Page | undefined;
    let reason: StopReason = 'duration';
    try {
      if (!browser.connected) this.die('browser died before the session started');
      ({ context, page } = await this.open(browser));
      reason = await this.loop(page);
    } catch (err) {
      if (this.diedReason) reason = 'died';
      else {
        reason = 'harness';
        this.probeError ??= `harness failed: ${(err as Error).message.split('\n')[0]}`;
        if (err instanceof Timeout) {
          this.broken = true;
          this.lease.markBroken(this.probeError);
        }
      }
    } finally {
      browser.off('disconnected', onDisconnect);
      this.ctx.signal.removeEventListener('abort', onAbort);
    }
    if (page && !this.diedReason && !this.broken) await this.shutdown(page, context);
    return this.finish(reason);
  }

  private die(reason: string): void {
    this.diedReason ??= reason;
    this.wake?.();
  }

  private async open(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage({ type: 'window' });
    page.once('error', (err) => this.die(`page crashed: ${err.message}`));
    page.on('pageerror', (err) =>
      this.log.warn({ err: (err as Error).message }, 'uncaught error in harness page'),
    );
    await withTimeout(
      page.goto(this.opts.harnessUrl, { waitUntil: 'load' }),
      OPEN_TIMEOUT_MS,
      'harness load',
    );
    const cfg: HarnessStartConfig = {
      url: this.job.target.url,
      decodeEvery: this.opts.decodeEvery,
      pdtEveryMs: this.opts.pdtEveryMs,
      centres: CENTRES,
      stripHeight: CLOCK_STRIP_HEIGHT,
      hlsConfig: this.opts.hlsConfig,
      freezeMinMs: this.opts.freezeMinMs,
      blackMinMs: this.opts.blackMinMs,
      rendition: this.job.rendition ?? this.opts.rendition,
      cmcd: this.opts.cmcd && { sessionId: randomUUID(), contentId: this.job.target.id, ...this.opts.cmcd },
    };
    this.playStart = Date.now();
    await withTimeout(
      page.evaluate((c) => {
        const h = (globalThis as unknown as HarnessGlobal).__liveprobe;
        if (!h?.ready) throw new Error('harness script did not load');
        h.start(c);
      }, cfg),
      OPEN_TIMEOUT_MS,
      'harness start',
    );
    this.log.debug({ url: redactUrl(this.job.target.url) }, 'playback started');
    return { context, page };
  }

  private async drain(page: Page): Promise<void> {
    const raw = await withTimeout(
      page.evaluate(() => (globalThis as unknown as HarnessGlobal).__liveprobe?.drain()),
      DRAIN_TIMEOUT_MS,
      'harness drain',
    );
    const d: DrainResult = parseDrain(raw);
    this.summary.add(d);
    this.interval.add(d);
    const harnessErr = d.events.find((e) => e.type === 'harness-error');
    if (harnessErr && harnessErr.type === 'harness-error')
      this.probeError ??= `harness error: ${harnessErr.message}`;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(page: Page): Promise<StopReason> {
    const durationMs = this.job.durationS * 1000;
    const watch = this.job.mode === 'watch';
    const intervalMs = Math.max(1, this.job.intervalS ?? 10) * 1000;
    const end = this.playStart + durationMs;
    let nextInterval = this.playStart + intervalMs;
    for (;;) {
      const now = Date.now();
      const until = Math.min(now + this.opts.drainEveryMs, end, watch ? nextInterval : end);
      if (!this.ctx.signal.aborted && !this.diedReason) await this.sleep(until - now);
      if (this.diedReason) return 'died';
      try {
        await this.drain(page);
      } catch (err) {
        if (this.diedReason) return 'died';
        throw err;
      }
      if (this.probeError) return 'harness';
      if (this.ctx.signal.aborted) return 'aborted';
      if (this.summary.state.fatalSeen) return 'fatal';
      if (Date.now() >= end) return 'duration';
      if (watch && Date.now() >= nextInterval) {
        this.emitInterval();
        nextInterval += intervalMs;
      }
    }
  }

  private emitInterval(): void {
    const data = this.interval.finish();
    const carry = this.interval.next();
    this.interval = new PeriodAccumulator(carry);
    const endedAt = new Date();
    const result = this.toResult(data, this.intervalStart, endedAt, false, false);
    this.intervalStart = endedAt;
    try {
      this.ctx.onInterval?.(result);
    } catch (err) {
      this.log.error({ err }, 'onInterval callback threw');
    }
  }
  private async shutdown(page: Page, context?: BrowserContext): Promise<void> {
    try {
      await withTimeout(this.drain(page), DRAIN_TIMEOUT_MS, 'final drain');
    } catch (err) {
      if (!this.diedReason) this.log.debug({ err: (err as Error).message }, 'final drain failed');
    }
    try {
      await withTimeout(
        page.evaluate(() => (globalThis as unknown as HarnessGlobal).__liveprobe?.stop()),
        CLOSE_TIMEOUT_MS,
        'harness stop',
      );
    } catch {}
    try {
      await withTimeout(context ? context.close() : page.close(), CLOSE_TIMEOUT_MS, 'window close');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'window did not close');
    }
  }

  private finish(reason: StopReason): ProbeResult {
    if (reason === 'died') this.probeError = this.diedReason;
    const data = this.summary.finish();
    const aborted = reason === 'aborted' && Date.now() < this.playStart + this.job.durationS * 1000;
    const result = this.toResult(data, this.startedAt, new Date(), true, aborted);
    this.log.info(
      {
        outcome: result.outcome,
        reasons: result.reasons,
        startup_ms: result.metrics.startup_ms,
        stop: reason,
      },
      'browser probe finished',
    );
    return result;
  }

  private toResult(
    data: PeriodData,
    startedAt: Date,
    endedAt: Date,
    summary: boolean,
    aborted: boolean,
  ): ProbeResult {
    const { outcome, reasons } = classifyOutcome({
      probeError: summary ? this.probeError : undefined,
      played: data.played,
      waitedS: this.playStart ? (endedAt.getTime() - this.playStart) / 1000 : 0,
      aborted,
      fatal: data.fatal,
      metrics: data.metrics,
      latencyMethod: data.latencyMethod,
      expectations: this.job.expectations,
    });
    return {
      target: this.job.target,
      probe: 'browser',
      mode: this.job.mode ?? 'check',
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      outcome,
      reasons: reasons.map((r) => r.slice(0, 500)),
      latency_method: data.latencyMethod,
      metrics: data.metrics,
      startup: data.startup,
      segments: data.segments,
      errors: data.errors,
      findings: [],
    };
  }
}

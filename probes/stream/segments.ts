/**
 * Segment downloads, shared by every run of a prober: at most `maxConcurrent` in flight, a bounded FIFO
 * behind them (more is dropped and counted, never an unbounded backlog), phase timings per download.
 */
import { redactUrl } from '../../shared/log.js';
import type { Authorizer } from '../../shared/target-auth.js';
import { judgeSegmentRate, type SlowVerdict } from './checks/slow.js';
import type { CmcdObject, CmcdWire } from './cmcd.js';
import type { HttpClient, HttpResult } from './http.js';
import type { SegmentMethod, SegmentSample } from './options.js';
import { mono, type Scheduler, task } from './scheduler.js';

export interface SegmentJob {
  url: string;
  variant: string;
  sn?: number;
  /** Seconds (EXTINF / MPD duration): for the slow-download rule. */
  duration?: number;
  byterange?: { length: number; offset: number };
  signal: AbortSignal;
  /** The run's protected-target credentials. */
  authorize?: Authorizer;
  /** What the segment is, for CMCD (ot, br); set by the monitor. */
  cmcd?: CmcdObject;
  /** The CMCD to send with it; set by the prober when CMCD is on. */
  cmcdWire?: CmcdWire;
  /**
   * Judge the download against real time while it runs (checks/slow.ts): `onSlow` is called at most once,
   * as soon as the body's arrival rate cannot make factor x durationMs, or at that deadline if still running.
   */
  slow?: { durationMs: number; factor: number; onSlow(v: SlowVerdict): void };
  /** Keep the body for `done` (small text segments the monitor reads, e.g. DASH WebVTT). */
  keepBody?: boolean;
  done(result: HttpResult, sample: SegmentSample | undefined): void;
}

const QUEUE_CAP = 2000;

export class SegmentFetcher {
  private inFlight = 0;
  private queue: SegmentJob[] = [];

  constructor(
    private readonly http: Pick<HttpClient, 'request'>,
    private readonly scheduler: Scheduler | undefined,
    private readonly o: {
      maxConcurrent: number;
      method: SegmentMethod;
      rangeBytes: number;
      timeoutMs: number;
      onSegment?: (s: SegmentSample) => void;
    },
  ) {}

  /** false when the queue is full (the caller counts it as skipped). */
  submit(job: SegmentJob): boolean {
    if (this.inFlight < this.o.maxConcurrent) {
      void this.run(job).catch(() => {});
      return true;
    }
    if (this.queue.length >= QUEUE_CAP) return false;
    this.queue.push(job);
    return true;
  }

  private async run(job: SegmentJob): Promise<void> {
    this.inFlight++;
    try {
      if (!job.signal.aborted) await this.fetch(job);
    } finally {
      this.inFlight--;
      const next = this.queue.shift();
      if (next) void this.run(next).catch(() => {});
    }
  }

  private async fetch(job: SegmentJob): Promise<void> {
    const m = this.o.method;
    let range: { start: number; end: number } | undefined;
    if (job.byterange && job.byterange.length > 0) {
      const len = m === 'range' ? Math.min(job.byterange.length, this.o.rangeBytes) : job.byterange.length;
      range = { start: job.byterange.offset, end: job.byterange.offset + len - 1 };
    } else if (m === 'range') range = { start: 0, end: this.o.rangeBytes - 1 };
    // Judged while the body arrives, and at the deadline if it is still running then (no byte, a stalled
    // body): a slow segment is news as soon as it is evident, not when (if ever) it ends.
    const started = mono();
    const judge = job.slow;
    const progress = {
      bytes: 0,
      totalBytes: undefined as number | undefined,
      ttfbMs: undefined as number | undefined,
    };
    let judged = false;
    let finished = false;
    const decide = () => {
      if (!judge || judged || finished) return;
      const v = judgeSegmentRate({
        elapsedMs: mono() - started,
        ...progress,
        durationMs: judge.durationMs,
        factor: judge.factor,
      });
      if (!v) return;
      judged = true;
      judge.onSlow(v);
    };
    const watchdog = judge && this.scheduler ? task(decide) : undefined;
    if (watchdog && judge) this.scheduler?.schedule(watchdog, started + judge.factor * judge.durationMs);
    const r = await this.http.request(job.url, {
      method: m === 'HEAD' ? 'HEAD' : 'GET',
      range: m === 'HEAD' ? undefined : range,
      timeoutMs: this.o.timeoutMs,
      keepBody: job.keepBody === true && m !== 'HEAD',
      maxBytes: job.keepBody === true ? 1024 * 1024 : 512 * 1024 * 1024,
      signal: job.signal,
      authorize: job.authorize,
      onProgress: judge
        ? (p) => {
            progress.bytes = p.bytes;
            progress.totalBytes = p.totalBytes;
            progress.ttfbMs = p.ttfbMs;
            decide();
          }
        : undefined,
      cmcd: job.cmcdWire,
    });
    finished = true;
    if (watchdog) this.scheduler?.cancel(watchdog);
    if (!r.ok && r.kind === 'aborted') return;
    let sample: SegmentSample | undefined;
    if (r.ok) {
      const p = r.phases;
      sample = {
        at: p.at,
        rendition: job.variant.slice(0, 100),
        sn: job.sn !== undefined && Number.isSafeInteger(job.sn) ? job.sn : undefined,
        url: redactUrl(job.url).slice(0, 2048),
        bytes: r.bytes,
        ttfb_ms: round1(p.ttfb_ms),
        download_ms: round1(p.total_ms),
        status: r.status,
        connect_ms: round1(p.connect_ms + p.dns_ms),
        tls_ms: round1(p.tls_ms),
        transfer_ms: round1(Math.max(0, p.total_ms - p.ttfb_ms)),
        reused: p.reused,
      };
      this.o.onSegment?.(sample);
    }
    try {
      job.done(r, sample);
    } catch {
      // the caller's bookkeeping failed; the fetcher carries on
    }
  }

  get pending(): number {
    return this.inFlight + this.queue.length;
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

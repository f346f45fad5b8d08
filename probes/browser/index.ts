import type { EgressPolicy } from '../../shared/egress.js';
import type { Logger } from '../../shared/log.js';
import type { ProbeResult } from '../../shared/schemas.js';
import type { ProbeContext, ProbeJob, Prober } from '../types.js';
import { DEFAULT_SILENCE_DBFS } from './aggregate.js';
import { resolveChromiumPath } from './chromium.js';
import type { RenditionChoice } from './events.js';
import { type HarnessServer, startHarnessServer } from './harness-server.js';
import { BrowserPool } from './pool.js';
import { BrowserSession } from './session.js';

export { ChromiumNotFoundError, resolveChromiumPath, STANDARD_CHROMIUM_PATHS } from './chromium.js';
export type { RenditionChoice } from './events.js';
export { classifyOutcome } from './outcome.js';
export { percentile, percentiles } from './percentiles.js';

export interface BrowserProberOptions {
  /** Egress policy for every request the page makes (agents); absent = no policy (a local one-off run). */
  egress?: EgressPolicy;
  /** Protected targets' secrets directory (besides env LIVEPROBE_SECRET_<NAME>). */
  secretsDir?: string;
  /** Chromium binary; else env LIVEPROBE_CHROMIUM; else standard locations (throws if none). */
  chromiumPath?: string;
  /** Every Chromium flag, replacing the built-in list (BASE_CHROMIUM_ARGS); unset = the built-in list. */
  args?: string[];
  /** Extra Chromium flags, e.g. --disable-dev-shm-usage where /dev/shm is small. */
  extraArgs?: string[];
  logger: Logger;
  /** Concurrent sessions (one window each) in the one browser; more run() calls wait. Default 8. */
  maxSessions?: number;
  /** Relaunch the browser after this many sessions, when idle. Default 50. */
  recycleAfterSessions?: number;
  /** Relaunch the browser, when idle, once its processes' PSS exceeds this many MB. Default 1500. */
  recycleAbovePssMb?: number;
  /** Decode the in-frame clock on every Nth presented frame. Default 5 (6 reads/s at 30 fps). */
  decodeEvery?: number;
  /** PDT latency sampling period. Default 500 ms. */
  pdtSampleMs?: number;
  /** How often Node drains the page's timeline. Default 500 ms. */
  drainEveryMs?: number;
  launchTimeoutMs?: number;
  /** dash.all.min.js for DASH targets; else env LIVEPROBE_DASHJS, else the dashjs package if installed. */
  dashJsPath?: string;
  /** Merged into the hls.js config. */
  hlsConfig?: Record<string, unknown>;
  /** Picture unchanged this long while the playhead moves is frozen (frozen_ms). Default 2000 ms. */
  freezeMinMs?: number;
  /** Picture black this long is black (black_ms). Default 1000 ms. */
  blackMinMs?: number;
  /**
   * Analyse the played audio in the page (Web Audio; silent_ms, audio_missing_ms, the A/V sync tone). Needs
   * autoplay with sound (the built-in flags allow it). Default true.
   */
  audio?: boolean;
  /** 100 ms audio windows below this RMS level count as silent (silent_ms). Default -60 dBFS. */
  silenceDbfs?: number;
  /** Default rendition choice for every job (a job's own `rendition` wins). Default: ABR, uncapped. */
  rendition?: RenditionChoice;
  /**
   * CMCD (CTA-5004) in query mode on every request the player makes: sid per session, cid = target id, and a
   * custom key marking synthetic traffic (default `com.liveprobe-synthetic=true`). `false` turns CMCD off.
   */
  cmcd?: false | { customKey?: string; customValue?: string | number | boolean };
}

export const DEFAULT_CMCD_KEY = 'com.liveprobe-synthetic';

/**
 * The browser probe: plays the target in headless Chromium with hls.js (HLS; forced, never native HLS) or
 * dash.js (DASH) and measures what a viewer sees. One Chromium per prober (lazy, relaunched if it died, killed
 * by PID on close), one window per session.
 *
 * Use: `new BrowserProber({ logger })`, then `run(job, { signal, logger, onInterval })` per job: mode 'check'
 * resolves with one summary after durationS; mode 'watch' calls onInterval every intervalS (default 10) and
 * resolves with the summary when durationS passes or signal aborts. `close()` when the agent stops.
 */
export class BrowserProber implements Prober {
  readonly kind = 'browser' as const;
  private readonly pool: BrowserPool;
  private server?: Promise<HarnessServer>;
  private readonly opts: BrowserProberOptions;

  constructor(opts: BrowserProberOptions) {
    this.opts = opts;
    this.pool = new BrowserPool({
      chromiumPath: resolveChromiumPath(opts.chromiumPath),
      ...(opts.args ? { baseArgs: opts.args } : {}),
      extraArgs: opts.extraArgs ?? [],
      logger: opts.logger.child({ component: 'browser-pool' }),
      maxSessions: opts.maxSessions ?? 8,
      recycleAfterSessions: opts.recycleAfterSessions ?? 50,
      recycleAbovePssMb: opts.recycleAbovePssMb ?? 1500,
      launchTimeoutMs: opts.launchTimeoutMs ?? 30_000,
    });
  }

  /** For the agent's heartbeat (`browser` field: healthy, pid, sessions) plus the browser's PSS. */
  health(): { healthy: boolean; pid?: number; sessions: number; pssMb?: number } {
    return this.pool.health();
  }

  async run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult> {
    const startedAt = new Date();
    const fail = (reason: string): ProbeResult => ({
      target: job.target,
      probe: 'browser',
      mode: job.mode ?? 'check',
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      outcome: 'probe-error',
      reasons: [reason.slice(0, 500)],
      metrics: {},
      segments: [],
      errors: [],
      findings: [],
    });
    let server: HarnessServer;
    try {
      this.server ??= startHarnessServer({ dashJsPath: this.opts.dashJsPath });
      server = await this.server;
    } catch (err) {
      this.server = undefined;
      return fail(`harness server failed: ${(err as Error).message}`);
    }
    if (job.target.protocol === 'dash' && !server.dashScript) {
      return fail('dash.js not found: add the dashjs package, or set LIVEPROBE_DASHJS to dash.all.min.js');
    }
    const session = new BrowserSession(job, ctx, (signal) => this.pool.acquire(signal), {
      harnessUrl: server.url,
      egress: this.opts.egress,
      secretsDir: this.opts.secretsDir,
      dashScript: server.dashScript,
      decodeEvery: this.opts.decodeEvery ?? 5,
      pdtEveryMs: this.opts.pdtSampleMs ?? 500,
      drainEveryMs: this.opts.drainEveryMs ?? 500,
      hlsConfig: { backBufferLength: 30, ...this.opts.hlsConfig },
      freezeMinMs: this.opts.freezeMinMs ?? 2000,
      blackMinMs: this.opts.blackMinMs ?? 1000,
      audio: this.opts.audio ?? true,
      silenceDbfs: this.opts.silenceDbfs ?? DEFAULT_SILENCE_DBFS,
      rendition: this.opts.rendition,
      cmcd: this.opts.cmcd === false ? undefined : { customKey: DEFAULT_CMCD_KEY, ...this.opts.cmcd },
    });
    return session.run();
  }

  async close(): Promise<void> {
    await this.pool.close();
    const server = this.server;
    this.server = undefined;
    if (server) await (await server.catch(() => undefined))?.close();
  }
}

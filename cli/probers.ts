import { BrowserProber } from '../probes/browser/index.js';
import { StreamProber } from '../probes/stream/index.js';
import type { ProbeContext, ProbeJob, Prober } from '../probes/types.js';
import type { Config } from '../shared/config.js';
import { EgressPolicy } from '../shared/egress.js';
import type { Logger } from '../shared/log.js';
import type { ProbeKind, ProbeResult } from '../shared/schemas.js';

/**
 * Builds a prober on first use: a stream-only agent or `probe --probe stream` never needs Chromium, so a
 * machine without it must not fail at start-up for the browser kind.
 */
class LazyProber implements Prober {
  private instance: Prober | undefined;
  constructor(
    readonly kind: ProbeKind,
    private readonly create: () => Prober,
  ) {}
  run(job: ProbeJob, ctx: ProbeContext): Promise<ProbeResult> {
    this.instance ??= this.create();
    return this.instance.run(job, ctx);
  }
  async close(): Promise<void> {
    await this.instance?.close();
  }
  /** The browser's health for the agent heartbeat (undefined before the first browser job). */
  health(): { healthy: boolean; pid?: number; sessions: number } | undefined {
    const i = this.instance as
      | (Prober & { health?: () => { healthy: boolean; pid?: number; sessions: number } })
      | undefined;
    return i?.health?.();
  }
}

/**
 * Every probe kind wired in one place; a kind added to ProbeKind and not here fails to compile. Agents get the
 * egress policy of the config; `liveprobe probe` (a one-off run by the person at the keyboard) passes
 * `{ egress: false }`.
 */
export function createProbers(
  config: Config,
  logger: Logger,
  opts: { egress?: boolean } = {},
): Record<ProbeKind, Prober> {
  const egress = opts.egress === false ? undefined : new EgressPolicy(config.egress.allow);
  return {
    browser: new LazyProber(
      'browser',
      () =>
        new BrowserProber({
          chromiumPath: config.browser.chromium,
          args: config.browser.args,
          extraArgs: config.browser.extraArgs,
          audio: config.browser.audio,
          silenceDbfs: config.browser.silenceDbfs,
          maxSessions: config.agent.capacity.browser,
          logger: logger.child({ probe: 'browser' }),
          egress,
          secretsDir: config.agent.secretsDir,
          ...(config.cmcd.mode === 'off' ? { cmcd: false as const } : {}),
        }),
    ),
    stream: new LazyProber(
      'stream',
      () =>
        new StreamProber({
          logger: logger.child({ probe: 'stream' }),
          cmcd: { mode: config.cmcd.mode },
          egress,
          secretsDir: config.agent.secretsDir,
          thresholds: { bandwidthTolerance: config.agent.bandwidthTolerance },
        }),
    ),
  };
}

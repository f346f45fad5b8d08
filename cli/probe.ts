import { adHocTargetId } from '../shared/ids.js';
import type { Outcome, Protocol } from '../shared/schemas.js';
import { type CommonFlags, setup } from './common.js';
import { formatResult } from './format.js';
import { createProbers } from './probers.js';

export interface ProbeFlags extends CommonFlags {
  probe: 'browser' | 'stream';
  protocol?: Protocol;
  duration: number;
  interval?: number;
  json?: boolean;
  pinHeight?: number;
  maxHeight?: number;
}

/** Exit codes in the monitoring-plugin tradition, so a shell script can act on the verdict. */
export const EXIT_CODES: Record<Outcome, number> = { ok: 0, degraded: 1, failed: 2, 'probe-error': 3 };

export async function runProbeCommand(url: string, flags: ProbeFlags): Promise<number> {
  const { config, logger } = setup('liveprobe-probe', flags, {}, 2);
  const protocol: Protocol = flags.protocol ?? (/\.mpd(\?|$)/i.test(url) ? 'dash' : 'hls');
  // The person at the keyboard runs this on their own behalf: no egress policy (docs/operations/security.md).
  const probers = createProbers(config, logger, { egress: false });
  const prober = probers[flags.probe];
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const print = (r: Parameters<typeof formatResult>[0]) =>
    process.stdout.write(`${flags.json ? JSON.stringify(r) : formatResult(r)}\n`);
  // A terminal sees the seconds pass (stderr, so stdout stays the report); a pipe gets nothing extra.
  const t0 = Date.now();
  const progress =
    process.stderr.isTTY && !flags.json
      ? setInterval(() => {
          const s = Math.min(flags.duration, Math.round((Date.now() - t0) / 1000));
          process.stderr.write(`\r${flags.probe} probe of ${url}: ${s}/${flags.duration} s `);
        }, 1000)
      : undefined;
  const clearProgress = () => {
    if (!progress) return;
    clearInterval(progress);
    process.stderr.write('\r\u001b[2K');
  };
  try {
    const result = await prober.run(
      {
        target: { id: adHocTargetId(url), url, protocol },
        durationS: flags.duration,
        mode: flags.interval ? 'watch' : 'check',
        intervalS: flags.interval,
        expectations: {},
        rendition:
          flags.pinHeight !== undefined || flags.maxHeight !== undefined
            ? { pinHeight: flags.pinHeight, maxHeight: flags.maxHeight }
            : undefined,
      },
      { signal: abort.signal, logger, onInterval: flags.interval ? print : undefined },
    );
    clearProgress();
    print(result);
    return EXIT_CODES[result.outcome];
  } finally {
    clearProgress();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.allSettled(Object.values(probers).map((p) => p.close()));
  }
}

import type { Metrics } from '../../shared/metrics.js';
import type { LatencyMethod, Outcome } from '../../shared/schemas.js';
import { redactUrlsIn } from './aggregate.js';

export interface Expectations {
  startup_ms?: number;
  g2g_ms?: number;
  rebuffer_ratio?: number;
}

export interface OutcomeInput {
  /** Our own failure (Chromium did not launch, crashed, the harness broke): never the stream's fault. */
  probeError?: string;
  /** A first frame was presented (in this period or before it). */
  played: boolean;
  /** How long the player had, in seconds, when the period ended (for "no first frame within N s"). */
  waitedS: number;
  /** Length of the reported period in seconds (a watch interval, or the whole run). */
  periodS?: number;
  /** The run was stopped from outside (job cancelled / deadline) before its duration passed. */
  aborted?: boolean;
  fatal?: { errType: string; details: string; status?: number; reason?: string };
  metrics: Metrics;
  latencyMethod?: LatencyMethod;
  expectations?: Expectations;
}

const ms = (x: number) => `${Math.round(x)} ms`;

export function describeFatal(f: NonNullable<OutcomeInput['fatal']>): string {
  const http = f.status !== undefined ? ` (HTTP ${f.status})` : '';
  return `fatal player error: ${f.errType} ${redactUrlsIn(f.details)}${http}`;
}

/**
 * ok | degraded | failed | probe-error with human-readable reasons that name the number and the threshold.
 * - probe-error: our fault (browser launch/crash, harness broken, or stopped before the stream had a chance);
 * - failed: never played within the period, no frame at all in the period, or a fatal player error;
 * - degraded: an expectation exceeded, any stall, or a frozen or black picture (each beyond its minimum
 *   duration, applied in the page).
 */
export function classifyOutcome(i: OutcomeInput): { outcome: Outcome; reasons: string[] } {
  if (i.probeError) return { outcome: 'probe-error', reasons: [i.probeError] };
  if (i.fatal) {
    const when = i.played ? '' : ' before the first frame';
    return { outcome: 'failed', reasons: [`${describeFatal(i.fatal)}${when}`] };
  }
  if (!i.played) {
    if (i.aborted) {
      return {
        outcome: 'probe-error',
        reasons: [`stopped after ${i.waitedS.toFixed(1)} s, before the first frame (run aborted)`],
      };
    }
    return { outcome: 'failed', reasons: [`no first frame within ${i.waitedS.toFixed(1)} s`] };
  }

  const m = i.metrics;
  // Played before, yet not one frame in this whole period: the viewer saw nothing (a stall that never ended,
  // or a player that silently stopped).
  if (m.total_frames === 0 && (i.periodS ?? 0) >= 2) {
    return { outcome: 'failed', reasons: [`no video frame presented in ${(i.periodS ?? 0).toFixed(1)} s`] };
  }
  const reasons: string[] = [];
  const x = i.expectations ?? {};
  if (x.startup_ms !== undefined && m.startup_ms !== undefined && m.startup_ms > x.startup_ms) {
    reasons.push(`startup ${ms(m.startup_ms)} > ${ms(x.startup_ms)} expected`);
  }
  if (x.g2g_ms !== undefined) {
    // Glass-to-glass from the in-frame stamp when decoded; PDT latency is the estimate of the same thing.
    if (m.g2g_p50_ms !== undefined && m.g2g_p50_ms > x.g2g_ms) {
      reasons.push(`g2g p50 ${ms(m.g2g_p50_ms)} > ${ms(x.g2g_ms)} expected`);
    } else if (
      m.g2g_p50_ms === undefined &&
      m.pdt_latency_p50_ms !== undefined &&
      m.pdt_latency_p50_ms > x.g2g_ms
    ) {
      reasons.push(`latency (PDT) p50 ${ms(m.pdt_latency_p50_ms)} > ${ms(x.g2g_ms)} expected`);
    }
  }
  if (
    x.rebuffer_ratio !== undefined &&
    m.rebuffer_ratio !== undefined &&
    m.rebuffer_ratio > x.rebuffer_ratio
  ) {
    reasons.push(`rebuffer ratio ${m.rebuffer_ratio.toFixed(3)} > ${x.rebuffer_ratio.toFixed(3)} expected`);
  }
  if (m.stall_count !== undefined && m.stall_count > 0) {
    const n = m.stall_count;
    reasons.push(`${n} stall${n === 1 ? '' : 's'}, ${ms(m.stall_ms ?? 0)} stalled`);
  }
  if (m.frozen_ms !== undefined && m.frozen_ms > 0) reasons.push(`picture frozen ${ms(m.frozen_ms)}`);
  if (m.black_ms !== undefined && m.black_ms > 0) reasons.push(`picture black ${ms(m.black_ms)}`);
  return { outcome: reasons.length > 0 ? 'degraded' : 'ok', reasons };
}

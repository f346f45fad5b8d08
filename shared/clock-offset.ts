import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from './subjects.js';
import { decodeJson } from './transport.js';

/**
 * The agent's clock against the fleet's reference clock (the controller's time service).
 * offsetMs = agent clock - reference clock, so a reference-clock time is `Date.now() - offsetMs`.
 * uncertaintyMs is half the round trip of the sample the offset came from: the reply was stamped somewhere
 * inside that round trip, so the true offset lies within ±uncertaintyMs of offsetMs.
 */
export interface ClockEstimate {
  offsetMs: number;
  uncertaintyMs: number;
  rttMs: number;
  /** When it was measured (agent clock, epoch ms). */
  at: number;
}

/** Where an agent reads its clock estimate from (default: the controller's time service over NATS). */
export type ClockSource = () => Promise<ClockEstimate | undefined>;

/**
 * NTP-style estimate against a time service: of several request/reply samples keep the one with the
 * smallest round trip (least queueing), offset = local midpoint - server time. Agents and the injector both
 * measure it this way, so every clock in the fleet is read against the same reference.
 */
export async function measureClock(
  nc: NatsConnection,
  names: Pick<Names, 'time'>,
  samples = 5,
): Promise<ClockEstimate | undefined> {
  let best: ClockEstimate | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    try {
      const reply = await nc.request(names.time, undefined, { timeout: 1000 });
      const t1 = Date.now();
      const body = decodeJson(reply.data) as { now?: unknown };
      if (typeof body.now !== 'number' || !Number.isFinite(body.now)) continue;
      const rtt = t1 - t0;
      if (!best || rtt < best.rttMs) {
        best = { offsetMs: (t0 + t1) / 2 - body.now, rttMs: rtt, uncertaintyMs: rtt / 2, at: t1 };
      }
    } catch {
      // no time service reachable: leave the offset unknown rather than guess
    }
  }
  if (!best) return undefined;
  // Date.now() has 1 ms resolution: an estimate is never better than ±0.5 ms.
  return {
    offsetMs: Math.round(best.offsetMs),
    rttMs: best.rttMs,
    uncertaintyMs: Math.max(0.5, Math.round(best.uncertaintyMs * 10) / 10),
    at: best.at,
  };
}

/** The offset alone (ms, rounded), or undefined when no time service answered. */
export async function estimateClockOffset(
  nc: NatsConnection,
  names: Pick<Names, 'time'>,
  samples = 5,
): Promise<number | undefined> {
  return (await measureClock(nc, names, samples))?.offsetMs;
}

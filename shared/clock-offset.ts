import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from './subjects.js';
import { decodeJson } from './transport.js';

/**
 * NTP-style clock offset against the controller's time service: of several request/reply samples keep the
 * one with the smallest round trip (least queueing), offset = local midpoint - server time. Agents and the
 * injector both measure it this way, so every clock in the fleet is read against the same reference.
 */
export async function estimateClockOffset(
  nc: NatsConnection,
  names: Names,
  samples = 5,
): Promise<number | undefined> {
  let best: { rtt: number; offset: number } | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    try {
      const reply = await nc.request(names.time, undefined, { timeout: 1000 });
      const t1 = Date.now();
      const body = decodeJson(reply.data) as { now?: unknown };
      if (typeof body.now !== 'number' || !Number.isFinite(body.now)) continue;
      const rtt = t1 - t0;
      const offset = (t0 + t1) / 2 - body.now;
      if (!best || rtt < best.rtt) best = { rtt, offset };
    } catch {
      // no time service reachable: leave the offset unknown rather than guess
    }
  }
  return best ? Math.round(best.offset) : undefined;
}

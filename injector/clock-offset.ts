import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../shared/subjects.js';
import { decodeJson } from '../shared/transport.js';

/**
 * Host clock minus the controller's (the fleet's reference), NTP-style: of several request/reply samples on
 * the time subject keep the one with the smallest round trip. The same method as the agents' (agent/clock.ts),
 * repeated here because the injector is a production-side tool that imports only shared/.
 */
export async function measureClockOffset(
  nc: NatsConnection,
  names: Names,
  samples = 7,
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
      if (!best || rtt < best.rtt) best = { rtt, offset: (t0 + t1) / 2 - body.now };
    } catch {
      // no time service: the offset stays unknown rather than guessed
    }
  }
  return best ? Math.round(best.offset) : undefined;
}

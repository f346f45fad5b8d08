import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';

/** Reference clock for the fleet: agents estimate their offset against it (agent/clock.ts). */
export function serveTime(nc: NatsConnection, names: Names): Subscription {
  return nc.subscribe(names.time, {
    callback: (_err, msg) => {
      msg.respond(encodeJson({ now: Date.now() }));
    },
  });
}

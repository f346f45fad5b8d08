import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../shared/log.js';
import { type ControlReply, ControlRequest } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson, encodeJson } from '../shared/transport.js';

export interface ControlHandlers {
  drain(): void;
  resume(): void;
  /** Starts a graceful stop; the reply goes out before the agent disconnects. */
  stop(): void;
  state(): { draining: boolean; jobs: string[] };
}

/**
 * Answers `<prefix>.control.<agentId>` requests (from the controller's `POST /v1/agents/:id/drain|stop`).
 * Core NATS request/reply: the caller learns at once whether the agent heard it (no responders = offline).
 */
export function serveControl(opts: {
  nc: NatsConnection;
  names: Names;
  agentId: string;
  logger: Logger;
  handlers: ControlHandlers;
}): Subscription {
  const { handlers, logger } = opts;
  return opts.nc.subscribe(opts.names.control(opts.agentId), {
    callback: (_err, msg) => {
      let action = 'unknown';
      let reply: ControlReply;
      try {
        const req = ControlRequest.parse(decodeJson(msg.data));
        action = req.action;
        logger.info({ action }, 'control request');
        if (req.action === 'drain') handlers.drain();
        else if (req.action === 'resume') handlers.resume();
        reply = { ok: true, agentId: opts.agentId, action, ...handlers.state() };
        if (req.action === 'stop') reply.draining = true;
      } catch (err) {
        reply = {
          ok: false,
          agentId: opts.agentId,
          action,
          ...handlers.state(),
          message: `bad control request: ${(err as Error).message}`.slice(0, 500),
        };
      }
      msg.respond(encodeJson(reply));
      // After the reply: stopping drains the connection this reply travels on.
      if (reply.ok && action === 'stop') setImmediate(() => handlers.stop());
    },
  });
}

import { type NatsConnection, errors as natsErrors, RequestError } from '@nats-io/transport-node';
import { ControlReply, type ControlRequest } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { decodeJson, encodeJson } from '../shared/transport.js';

/** No agent answered on its control subject: it is offline, or not subscribed (wrong id, or permissions). */
export class AgentUnreachableError extends Error {
  override readonly name = 'AgentUnreachableError';
}

export interface AgentControlOptions {
  nc: NatsConnection;
  names: Names;
  /** How long to wait for the agent's reply. Default 3 s. */
  timeoutMs?: number;
}

/**
 * Drain / resume / stop / status of one agent through core NATS request/reply on
 * `<prefix>.control.<agentId>`. The reply is the agent's own account (draining, running jobs), validated.
 */
export class AgentControl {
  constructor(private readonly opts: AgentControlOptions) {}

  async request(agentId: string, action: ControlRequest['action']): Promise<ControlReply> {
    const body: ControlRequest = { action };
    try {
      const msg = await this.opts.nc.request(this.opts.names.control(agentId), encodeJson(body), {
        timeout: this.opts.timeoutMs ?? 3000,
      });
      return ControlReply.parse(decodeJson(msg.data));
    } catch (err) {
      const noResponders = err instanceof RequestError && err.isNoResponders();
      if (noResponders || err instanceof natsErrors.TimeoutError) {
        throw new AgentUnreachableError(
          `agent ${agentId} did not answer on ${this.opts.names.control(agentId)}${noResponders ? ' (no responders)' : ' (timeout)'}`,
        );
      }
      throw err;
    }
  }
}

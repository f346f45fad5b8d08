import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { ControlReply, Heartbeat } from '../../../shared/schemas.js';
import { AgentUnreachableError } from '../../control.js';
import { UnknownAgentError } from '../../fleet.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const AgentView = z.object({
  agentId: z.string(),
  region: z.string(),
  status: z.enum(['online', 'offline']),
  lastSeen: z.string(),
  heartbeat: Heartbeat,
});

const PerKind = z.object({ browser: z.number(), stream: z.number() });
const RegionView = z.object({
  region: z.string(),
  agents: z.object({ online: z.number(), offline: z.number(), draining: z.number() }),
  capacity: PerKind,
  running: PerKind,
  free: PerKind,
  dropped: z.number(),
  spooled: z.number(),
});

const Params = z.object({ id: SubjectToken });

export const agentRoutes = (s: Services) => async (app: App) => {
  app.get('/v1/agents', { schema: { response: { 200: z.array(AgentView) } } }, async () =>
    s.fleet.list().map((a) => ({
      agentId: a.heartbeat.agentId,
      region: a.heartbeat.region,
      status: a.status,
      lastSeen: new Date(a.lastSeen).toISOString(),
      heartbeat: a.heartbeat,
    })),
  );

  /** Capacity per region: agents online/offline/draining and slots (capacity, running, free) by probe kind. */
  app.get('/v1/agents/regions', { schema: { response: { 200: z.array(RegionView) } } }, async () =>
    s.fleet.regions(),
  );

  // drain: stop taking jobs, finish running ones (reversible: resume). stop: drain for the agent's grace
  // period, hand back what is left, exit. The reply is the agent's own account, over request/reply.
  for (const action of ['drain', 'resume', 'stop'] as const) {
    app.post(
      `/v1/agents/:id/${action}`,
      {
        config: { role: 'operator' },
        schema: { params: Params, response: { 200: ControlReply, 404: ApiError, 503: ApiError } },
      },
      async (req, reply) => {
        try {
          return await s.fleet.command(req.params.id, action);
        } catch (err) {
          if (err instanceof UnknownAgentError) return problem(reply, 404, err.message);
          if (err instanceof AgentUnreachableError) return problem(reply, 503, err.message);
          throw err;
        }
      },
    );
  }
};

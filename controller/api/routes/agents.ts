import { z } from 'zod';
import { Heartbeat } from '../../../shared/schemas.js';
import type { App, Services } from '../server.js';

const AgentView = z.object({
  agentId: z.string(),
  region: z.string(),
  status: z.enum(['online', 'offline']),
  lastSeen: z.string(),
  heartbeat: Heartbeat,
});

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
};

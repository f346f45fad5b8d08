import type { App, Services } from '../server.js';

export const metricsRoutes = (s: Services) => async (app: App) => {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const body = await s.metrics.registry.metrics();
    return reply.type(s.metrics.registry.contentType).send(body);
  });
};

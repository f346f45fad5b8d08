import { z } from 'zod';
import type { App, Services } from '../server.js';

export const healthRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/healthz',
    { config: { public: true }, schema: { response: { 200: z.object({ ok: z.literal(true) }) } } },
    async () => ({
      ok: true as const,
    }),
  );
  app.get('/readyz', { config: { public: true } }, async (_req, reply) =>
    s.ready() ? { ready: true } : reply.code(503).send({ ready: false }),
  );
};

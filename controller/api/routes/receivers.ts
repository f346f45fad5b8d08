import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import type { App, Services } from '../server.js';

const Params = z.object({ name: z.string().min(1).max(200) });
const ReceiverView = z.object({ name: z.string(), kind: z.string() });
const TestResult = z.object({ ok: z.boolean(), message: z.string().optional() });

/** Alert receivers (from the alerting file): list, and a test notification through one (operator). */
export const receiverRoutes = (s: Services) => async (app: App) => {
  app.get('/v1/receivers', { schema: { response: { 200: z.array(ReceiverView) } } }, async () =>
    s.alerting.receiverViews(),
  );
  app.post(
    '/v1/receivers/:name/test',
    {
      config: { role: 'operator' },
      schema: { params: Params, response: { 200: TestResult, 404: ApiError } },
    },
    async (req, reply) =>
      (await s.alerting.testReceiver(req.params.name)) ??
      reply.code(404).send({ error: 'not-found', message: `no receiver ${req.params.name}` }),
  );
};

import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { InjectorHeartbeat } from '../../../shared/schemas.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

/** One injector: its latest heartbeat, flattened, with the controller's view of it (status, lastSeen). */
export const InjectorView = InjectorHeartbeat.extend({
  status: z.enum(['online', 'offline']),
  lastSeen: z.string(),
});

const Params = z.object({ id: z.coerce.number().int().min(1).max(65535) });

export const injectorRoutes = (s: Services) => async (app: App) => {
  const view = (i: NonNullable<ReturnType<NonNullable<Services['injectors']>['get']>>) => ({
    ...i.heartbeat,
    status: i.status,
    lastSeen: new Date(i.lastSeen).toISOString(),
  });

  /** Clock-strip injectors heard from: where glass-to-glass is measured from, and how each is doing. */
  app.get('/v1/injectors', { schema: { response: { 200: z.array(InjectorView) } } }, async () =>
    (s.injectors?.list() ?? []).map(view),
  );

  app.get(
    '/v1/injectors/:id',
    { schema: { params: Params, response: { 200: InjectorView, 404: ApiError } } },
    async (req, reply) => {
      const i = s.injectors?.get(req.params.id);
      if (!i) return problem(reply, 404, `no injector ${req.params.id} has reported`);
      return view(i);
    },
  );
};

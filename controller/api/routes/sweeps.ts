import { z } from 'zod';
import { ApiError, Sweep, SweepRequest } from '../../../shared/api.js';
import { UnknownTargetError } from '../../sweeps.js';
import { assertAdHocTargets } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

export const sweepRoutes = (s: Services) => async (app: App) => {
  app.post(
    '/v1/sweeps',
    {
      schema: {
        body: SweepRequest,
        response: { 202: z.object({ id: z.string(), jobs: z.number() }), 400: ApiError, 409: ApiError },
      },
    },
    async (req, reply) => {
      assertAdHocTargets(s.egress!, req.body.targets, (id) => s.targets.get(id), 'body.targets');
      try {
        const sweep = await s.sweeps.create(req.body);
        return reply.code(202).send({ id: sweep.id, jobs: sweep.expected });
      } catch (err) {
        if (err instanceof UnknownTargetError) {
          return problem(reply, 400, err.message, {
            issues: err.ids.map((id) => ({ path: 'body.targets', message: `unknown target id ${id}` })),
          });
        }
        throw err;
      }
    },
  );
  app.get('/v1/sweeps', { schema: { response: { 200: z.array(Sweep.omit({ reports: true })) } } }, async () =>
    s.sweeps.list().map(({ reports: _r, ...rest }) => rest),
  );
  app.get(
    '/v1/sweeps/:id',
    { schema: { params: z.object({ id: z.string().max(64) }), response: { 200: Sweep, 404: ApiError } } },
    async (req, reply) => s.sweeps.get(req.params.id) ?? problem(reply, 404, `no sweep ${req.params.id}`),
  );
};

import { z } from 'zod';
import { ApiError, Schedule } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { assertAdHocTargets } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const IdParams = z.object({ id: SubjectToken });
const ScheduleView = Schedule.extend({ nextRun: z.string().nullable() });

export const scheduleRoutes = (s: Services) => async (app: App) => {
  const view = (sch: Schedule) => ({ ...sch, nextRun: s.scheduler.nextRun(sch.id) });
  app.get('/v1/schedules', { schema: { response: { 200: z.array(ScheduleView) } } }, async () =>
    s.schedules.list().map(view),
  );
  app.get(
    '/v1/schedules/:id',
    { schema: { params: IdParams, response: { 200: ScheduleView, 404: ApiError } } },
    async (req, reply) => {
      const sch = s.schedules.get(req.params.id);
      return sch ? view(sch) : problem(reply, 404, `no schedule ${req.params.id}`);
    },
  );
  app.post(
    '/v1/schedules',
    {
      config: { role: 'admin' },
      schema: { body: Schedule, response: { 201: Schedule, 400: ApiError, 409: ApiError } },
    },
    async (req, reply) => {
      assertAdHocTargets(s.egress!, req.body.sweep.targets, (id) => s.targets.get(id), 'body.sweep.targets');
      const unknown = s.sweeps.unknownTargets(req.body.sweep);
      if (unknown.length) {
        return problem(reply, 400, `unknown target id(s): ${unknown.join(', ')}`, {
          issues: unknown.map((id) => ({ path: 'body.sweep.targets', message: `unknown target id ${id}` })),
        });
      }
      return reply.code(201).send(await s.schedules.put(req.body));
    },
  );
  app.delete(
    '/v1/schedules/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: z.null(), 404: ApiError } } },
    async (req, reply) =>
      (await s.schedules.delete(req.params.id))
        ? reply.code(204).send(null)
        : problem(reply, 404, `no schedule ${req.params.id}`),
  );
};

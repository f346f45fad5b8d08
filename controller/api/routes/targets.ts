import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { Target } from '../../../shared/schemas.js';
import { assertEgress } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const IdParams = z.object({ id: SubjectToken });

export const targetRoutes = (s: Services) => async (app: App) => {
  app.get('/v1/targets', { schema: { response: { 200: z.array(Target) } } }, async () => s.targets.list());
  app.get(
    '/v1/targets/:id',
    { schema: { params: IdParams, response: { 200: Target, 404: ApiError } } },
    async (req, reply) => s.targets.get(req.params.id) ?? problem(reply, 404, `no target ${req.params.id}`),
  );
  app.put(
    '/v1/targets/:id',
    {
      config: { role: 'admin' },
      schema: { params: IdParams, body: Target.omit({ id: true }), response: { 200: Target, 400: ApiError } },
    },
    async (req) => {
      assertEgress(s.egress!, req.body.url, 'body.url');
      return s.targets.put({ ...req.body, id: req.params.id });
    },
  );
  app.post(
    '/v1/targets',
    { config: { role: 'admin' }, schema: { body: Target, response: { 201: Target, 400: ApiError } } },
    async (req, reply) => {
      assertEgress(s.egress!, req.body.url, 'body.url');
      return reply.code(201).send(await s.targets.put(req.body));
    },
  );
  app.delete(
    '/v1/targets/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: z.null(), 404: ApiError } } },
    async (req, reply) =>
      (await s.targets.delete(req.params.id))
        ? reply.code(204).send(null)
        : problem(reply, 404, `no target ${req.params.id}`),
  );
};

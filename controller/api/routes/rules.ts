import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { Rule } from '../../alerting/schema.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const IdParams = z.object({ id: SubjectToken });

/** Alerting rules (admin to change): the rules file's rules plus API-made ones, stored in KV. */
export const ruleRoutes = (s: Services) => async (app: App) => {
  const rules = s.alerting.rules;
  const notFound = <R>(reply: R, id: string) => problem(reply, 404, `no rule ${id}`);
  app.get('/v1/rules', { schema: { response: { 200: z.array(Rule) } } }, async () => rules.list());
  app.get(
    '/v1/rules/:id',
    { schema: { params: IdParams, response: { 200: Rule, 404: ApiError } } },
    async (req, reply) => rules.get(req.params.id) ?? notFound(reply, req.params.id),
  );
  app.post(
    '/v1/rules',
    { config: { role: 'admin' }, schema: { body: Rule, response: { 201: Rule, 409: ApiError } } },
    async (req, reply) =>
      rules.get(req.body.id)
        ? problem(reply, 409, `rule ${req.body.id} exists; PUT /v1/rules/${req.body.id}`)
        : reply.code(201).send(await s.alerting.putRule(req.body)),
  );
  app.put(
    '/v1/rules/:id',
    {
      config: { role: 'admin' },
      schema: { params: IdParams, body: Rule, response: { 200: Rule, 400: ApiError } },
    },
    async (req, reply) =>
      req.body.id !== req.params.id
        ? problem(reply, 400, 'id in the body differs from the path', {
            issues: [{ path: 'body.id', message: `expected ${req.params.id}` }],
          })
        : s.alerting.putRule(req.body),
  );
  app.delete(
    '/v1/rules/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: z.null(), 404: ApiError } } },
    async (req, reply) =>
      (await rules.delete(req.params.id)) ? reply.code(204).send(null) : notFound(reply, req.params.id),
  );
};

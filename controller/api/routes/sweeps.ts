import { z } from 'zod';
import { ApiError, Sweep, SweepRequest } from '../../../shared/api.js';
import { toHtml, toJson, toMarkdown } from '../../readiness/report.js';
import { EmptySweepError, UnknownRegionError, UnknownTargetError } from '../../sweeps.js';
import { assertAdHocTargets } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const Params = z.object({ id: z.string().max(64) });
const Capacity = z.object({
  region: z.string(),
  jobs: z.number(),
  agents: z.number(),
  freeSlots: z.number(),
  expectedWaitS: z.number().nullable(),
});
const Accepted = z.object({
  id: z.string(),
  jobs: z.number(),
  regions: z.array(z.string()),
  capacity: z.array(Capacity),
});
const ReportQuery = z.object({
  format: z.enum(['md', 'html', 'json']).default('md'),
  /** A label whose values become the columns of a pivot table (e.g. cdn). */
  pivot: z.string().max(100).optional(),
});

export const sweepRoutes = (s: Services) => async (app: App) => {
  const notFound = (id: string) => ({ error: 'not-found', message: `no sweep ${id}` });
  app.post(
    '/v1/sweeps',
    { schema: { body: SweepRequest, response: { 202: Accepted, 400: ApiError, 409: ApiError } } },
    async (req, reply) => {
      assertAdHocTargets(s.egress!, req.body.targets, (id) => s.targets.get(id), 'body.targets');
      try {
        const sweep = await s.sweeps.create(req.body, {
          author: req.principal?.name ?? 'anonymous',
          strictRegions: true,
        });
        return reply
          .code(202)
          .header('location', `/v1/sweeps/${sweep.id}`)
          .send({
            id: sweep.id,
            jobs: sweep.expected,
            regions: sweep.regions,
            capacity: s.sweeps.capacity(sweep),
          });
      } catch (err) {
        if (err instanceof UnknownTargetError) {
          return problem(reply, 400, err.message, {
            issues: err.ids.map((id) => ({ path: 'body.targets', message: `unknown target id ${id}` })),
          });
        }
        if (err instanceof UnknownRegionError) {
          return reply.code(400).send({
            error: 'validation',
            message: err.message,
            issues: err.regions.map((r) => ({
              path: 'body.regions',
              message: `unknown region ${r}; known regions: ${err.known.join(', ') || '(none)'}`,
            })),
          });
        }
        if (err instanceof EmptySweepError)
          return reply.code(400).send({ error: 'validation', message: err.message });
        throw err;
      }
    },
  );
  app.get('/v1/sweeps', { schema: { response: { 200: z.array(Sweep.omit({ reports: true })) } } }, async () =>
    s.sweeps.list().map(({ reports: _r, ...rest }) => rest),
  );
  app.get(
    '/v1/sweeps/:id',
    { schema: { params: Params, response: { 200: Sweep, 404: ApiError } } },
    async (req, reply) => {
      const sweep = s.sweeps.get(req.params.id);
      if (!sweep) return reply.code(404).send(notFound(req.params.id));
      // A running sweep shows its provisional verdict (regions still missing count as such).
      return { ...sweep, ...s.sweeps.verdictOf(sweep) };
    },
  );
  /** Cancel: queued jobs are dropped from the work queues, running ones stopped on the agents. */
  app.delete(
    '/v1/sweeps/:id',
    { schema: { params: Params, response: { 200: Sweep, 404: ApiError, 409: ApiError } } },
    async (req, reply) => {
      const cur = s.sweeps.get(req.params.id);
      if (!cur) return reply.code(404).send(notFound(req.params.id));
      if (cur.state === 'done' || cur.state === 'cancelled')
        return reply
          .code(409)
          .send({ error: 'conflict', message: `sweep ${cur.id} is already ${cur.state}` });
      return (
        (await s.sweeps.cancel(req.params.id, req.principal?.name ?? 'anonymous')) ??
        s.sweeps.get(req.params.id)
      );
    },
  );
  app.post(
    '/v1/sweeps/:id/baseline',
    {
      schema: {
        params: Params,
        response: { 200: Sweep.omit({ reports: true }), 404: ApiError, 409: ApiError },
      },
    },
    async (req, reply) => {
      const cur = s.sweeps.get(req.params.id);
      if (!cur) return reply.code(404).send(notFound(req.params.id));
      if (cur.state !== 'done')
        return reply.code(409).send({
          error: 'conflict',
          message: `sweep ${cur.id} is ${cur.state}; only a finished sweep can be a baseline`,
        });
      const { reports: _r, ...rest } = (await s.sweeps.markBaseline(req.params.id)) ?? cur;
      return rest;
    },
  );
  app.get(
    '/v1/sweeps/:id/report',
    { schema: { params: Params, querystring: ReportQuery } },
    async (req, reply) => {
      const sweep = s.sweeps.get(req.params.id);
      if (!sweep) return reply.code(404).send(notFound(req.params.id));
      const model = {
        sweep,
        verdict: s.sweeps.verdictOf(sweep),
        pivot: req.query.pivot,
        generatedAt: new Date().toISOString(),
      };
      const file = `readiness-${sweep.id.slice(0, 8)}`;
      if (req.query.format === 'json')
        return reply.type('application/json').send(JSON.stringify(toJson(model)));
      if (req.query.format === 'html')
        return reply
          .type('text/html; charset=utf-8')
          .header('content-disposition', `inline; filename="${file}.html"`)
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
          .send(toHtml(model));
      return reply
        .type('text/markdown; charset=utf-8')
        .header('content-disposition', `inline; filename="${file}.md"`)
        .send(toMarkdown(model));
    },
  );
};

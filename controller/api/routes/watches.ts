import { z } from 'zod';
import { ApiError, Watch } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { assertAdHocTargets } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const IdParams = z.object({ id: SubjectToken });
const WatchView = Watch.extend({
  chunks: z.record(
    z.string(),
    z.object({ jobId: z.string(), start: z.string(), until: z.string() }).nullable(),
  ),
});

export const watchRoutes = (s: Services) => async (app: App) => {
  const view = async (w: Watch) => {
    const chunks: Record<string, { jobId: string; start: string; until: string } | null> = {};
    for (const region of w.regions) {
      const c = await s.watchService.chunk(w.id, region);
      chunks[region] = c
        ? { jobId: c.jobId, start: new Date(c.start).toISOString(), until: new Date(c.until).toISOString() }
        : null;
    }
    return { ...w, chunks };
  };
  app.get('/v1/watches', { schema: { response: { 200: z.array(WatchView) } } }, async () =>
    Promise.all(s.watches.list().map(view)),
  );
  app.get(
    '/v1/watches/:id',
    { schema: { params: IdParams, response: { 200: WatchView, 404: ApiError } } },
    async (req, reply) => {
      const w = s.watches.get(req.params.id);
      return w ? view(w) : problem(reply, 404, `no watch ${req.params.id}`);
    },
  );
  app.post(
    '/v1/watches',
    { schema: { body: Watch, response: { 201: Watch, 400: ApiError, 409: ApiError } } },
    async (req, reply) => {
      assertAdHocTargets(s.egress!, [req.body.target], (id) => s.targets.get(id), 'body.target');
      if (!s.watchService.resolveTarget(req.body)) {
        return problem(reply, 400, `unknown target id ${String(req.body.target)}`, {
          issues: [{ path: 'body.target', message: `unknown target id ${String(req.body.target)}` }],
        });
      }
      const before = s.watches.get(req.body.id);
      if (before && (!req.body.enabled || JSON.stringify(before) !== JSON.stringify(req.body))) {
        await s.watchService.stop(before);
      }
      const saved = await s.watches.put(req.body);
      await s.watchService.tick();
      return reply.code(201).send(saved);
    },
  );
  app.delete(
    '/v1/watches/:id',
    { schema: { params: IdParams, response: { 204: z.null(), 404: ApiError } } },
    async (req, reply) => {
      const w = s.watches.get(req.params.id);
      if (!w) return problem(reply, 404, `no watch ${req.params.id}`);
      await s.watchService.stop(w);
      await s.watches.delete(w.id);
      return reply.code(204).send(null);
    },
  );
};

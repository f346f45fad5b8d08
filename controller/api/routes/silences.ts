import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { SubjectToken } from '../../../shared/ids.js';
import { durationMs, SilenceRequest, SilenceView } from '../../alerting/schema.js';
import { silenceStatus } from '../../alerting/silence.js';
import { GuardError } from '../guards.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const IdParams = z.object({ id: SubjectToken });
const ListQuery = z.object({ status: z.enum(['active', 'pending', 'expired']).optional() });

/** Silences and maintenance windows (operator to change). DELETE expires a silence; it stays listed. */
export const silenceRoutes = (s: Services) => async (app: App) => {
  const notFound = <R>(reply: R, id: string) => problem(reply, 404, `no silence ${id}`);
  app.get(
    '/v1/silences',
    { schema: { querystring: ListQuery, response: { 200: z.array(SilenceView) } } },
    async (req) =>
      s.alerting.silenceViews().filter((v) => !req.query.status || v.status === req.query.status),
  );
  app.get(
    '/v1/silences/:id',
    { schema: { params: IdParams, response: { 200: SilenceView, 404: ApiError } } },
    async (req, reply) => {
      const v = s.alerting.silenceViews().find((x) => x.id === req.params.id);
      return v ?? notFound(reply, req.params.id);
    },
  );
  app.post(
    '/v1/silences',
    { schema: { body: SilenceRequest, response: { 201: SilenceView, 400: ApiError } } },
    async (req, reply) => {
      const limits = s.silenceLimits ?? { max: 200, maxHours: 24 * 90 };
      const starts = req.body.starts_at ? Date.parse(req.body.starts_at) : Date.now();
      const ends = req.body.ends_at
        ? Date.parse(req.body.ends_at)
        : starts + durationMs(req.body.duration ?? '1h');
      if (ends - starts > limits.maxHours * 3_600_000)
        throw new GuardError(400, `a silence may last at most ${limits.maxHours} h`);
      const live = s.alerting.silenceViews().filter((v) => v.status !== 'expired').length;
      if (live >= limits.max)
        throw new GuardError(
          400,
          `${live} silences are active or pending (at most ${limits.max}); expire some first`,
        );
      // With tokens the author is the token's name; without (loopback demo) whoever the body names.
      const principal = req.principal?.name ?? 'anonymous';
      const author = principal === 'anonymous' ? (req.body.created_by ?? principal) : principal;
      const silence = await s.alerting.createSilence(req.body, author);
      return reply.code(201).send({ ...silence, status: silenceStatus(silence, Date.now()) });
    },
  );
  app.delete(
    '/v1/silences/:id',
    { schema: { params: IdParams, response: { 200: SilenceView, 404: ApiError } } },
    async (req, reply) => {
      const silence = await s.alerting.expireSilence(req.params.id);
      return silence
        ? { ...silence, status: silenceStatus(silence, Date.now()) }
        : notFound(reply, req.params.id);
    },
  );
};

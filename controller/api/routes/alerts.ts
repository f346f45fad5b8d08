import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { HistoryEntry } from '../../alerting/index.js';
import { AlertState, AlertView } from '../../alerting/schema.js';
import { problem } from '../problem.js';
import type { App, Services } from '../server.js';

const ListQuery = z.object({
  /** Default: pending and firing. */
  state: AlertState.optional(),
  target: z.string().max(64).optional(),
  rule: z.string().max(64).optional(),
});
const HistoryQuery = z.object({
  target: z.string().max(64).optional(),
  rule: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const IdParams = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'an alert fingerprint (16 hex digits)') });

/** Alerts: active ones with their evidence and notifications; firing episodes of the last 7 days. */
export const alertRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/v1/alerts',
    { schema: { querystring: ListQuery, response: { 200: z.array(AlertView) } } },
    async (req) => s.alerting.listAlerts(req.query),
  );
  app.get(
    '/v1/alerts/history',
    { schema: { querystring: HistoryQuery, response: { 200: z.array(HistoryEntry) } } },
    // `limit` is applied by the central pagination (server.ts), after the cursor
    async (req) => s.alerting.alertHistory({ ...req.query, limit: Number.MAX_SAFE_INTEGER }),
  );
  app.get(
    '/v1/alerts/:id',
    { schema: { params: IdParams, response: { 200: AlertView, 404: ApiError } } },
    async (req, reply) =>
      s.alerting.getAlert(req.params.id) ?? problem(reply, 404, `no active alert ${req.params.id}`),
  );
};

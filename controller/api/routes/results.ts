import { z } from 'zod';
import { ResultsQuery } from '../../../shared/api.js';
import { Report } from '../../../shared/schemas.js';
import type { App, Services } from '../server.js';

export const resultRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/v1/results',
    {
      schema: {
        querystring: ResultsQuery,
        response: { 200: z.object({ reports: z.array(Report), next: z.number().optional() }) },
      },
    },
    async (req) => s.results.query(req.query),
  );
};

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ApiError } from '../../../shared/api.js';
import { problem } from '../problem.js';
import type { App } from '../server.js';

/** docs/runbooks of the package root, found like the page's bundle (from dist/ or from the sources). */
export function runbooksDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'docs', 'runbooks');
    dir = dirname(dir);
  }
  return undefined;
}

const Params = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a rule id') });

/**
 * GET /runbooks/:id: the runbook of a shipped rule as Markdown, so a rule's relative runbook_url
 * (runbooks/<rule-id>), resolved against controller.externalUrl in notifications, always resolves.
 * Public like the docs: a runbook holds no data.
 */
export const runbookRoutes =
  (root: string | undefined = runbooksDir()) =>
  async (app: App) => {
    app.get(
      '/runbooks/:id',
      {
        config: { public: true },
        schema: {
          description: 'The runbook of an alerting rule (Markdown), as linked from notifications',
          params: Params,
          response: {
            200: { description: 'The runbook', content: { 'text/markdown': { schema: z.string() } } },
            404: ApiError,
          },
        },
      },
      async (req, reply) => {
        const file = root && join(root, `${req.params.id}.md`);
        if (!file || !existsSync(file)) return problem(reply, 404, `no runbook ${req.params.id}`);
        return reply
          .type('text/markdown; charset=utf-8')
          .header('cache-control', 'no-cache')
          .send(readFileSync(file, 'utf8'));
      },
    );
  };

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from './server.js';

/** Paths of the page's views: each answers with the same index.html, the page routes on the client. */
export const PAGE_PATHS = ['/', '/alerts', '/sweeps', '/fleet', '/signin', '/target/:id', '/sweeps/:id'];

/**
 * The built page (npm run build -> dist/ui). Found from the package root, so the controller serves it
 * whether it runs from dist/ or from the TypeScript sources (tests).
 */
export function uiDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const built = join(dir, 'dist', 'ui');
      return existsSync(join(built, 'index.html')) ? built : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * The command-center page: static assets under /ui/ and the view paths. All of it is public (the page
 * holds no data; every figure comes from the API, which enforces auth). Nothing is loaded from another
 * origin, so the page works offline.
 */
export const uiRoutes = (root: string | undefined) => async (app: App) => {
  // Everything registered in this plugin is public, including @fastify/static's own routes.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), public: true } as typeof route.config;
  });
  if (!root) {
    const missing = async (_req: unknown, reply: import('fastify').FastifyReply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The command-center page is not built: run `npm run build`.\n');
    for (const p of PAGE_PATHS) app.get(p, { schema: { hide: true } }, missing);
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/ui/',
    index: false,
    // Bundles have stable names: revalidate rather than cache blindly across builds.
    cacheControl: true,
    maxAge: 0,
    etag: true,
    decorateReply: true,
  });
  for (const p of PAGE_PATHS) {
    app.get(p, { schema: { hide: true } }, (_req, reply) =>
      reply
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'same-origin')
        .sendFile('index.html', root),
    );
  }
};

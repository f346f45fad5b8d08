import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from '../../shared/log.js';
import { VERSION } from '../../shared/version.js';
import type { Fleet } from '../fleet.js';
import type { ResultsReader } from '../results.js';
import type { TargetStore } from '../state/targets.js';
import type { SweepService } from '../sweeps.js';
import { agentRoutes } from './routes/agents.js';
import { healthRoutes } from './routes/health.js';
import { resultRoutes } from './routes/results.js';
import { sweepRoutes } from './routes/sweeps.js';
import { targetRoutes } from './routes/targets.js';

/** What route handlers may call: each route is a thin call into one of these. */
export interface Services {
  sweeps: SweepService;
  targets: TargetStore;
  results: ResultsReader;
  fleet: Fleet;
  ready: () => boolean;
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  ZodTypeProvider
>;

export async function buildApi(services: Services, logger: Logger): Promise<App> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 256 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Field-level validation errors: `issues[].path` names the offending field.
  app.setErrorHandler((err, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.code(400).send({
        error: 'validation',
        message: `invalid ${err.validationContext ?? 'request'}`,
        issues: err.validation.map((v) => ({
          path: [err.validationContext, ...String(v.instancePath).split('/').filter(Boolean)].join('.'),
          message: v.message ?? 'invalid',
        })),
      });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply
      .code(status)
      .send({ error: status >= 500 ? 'internal' : 'bad-request', message: (err as Error).message });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'liveprobe controller API', version: VERSION },
    },
    transform: jsonSchemaTransform,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes(services));
  await app.register(targetRoutes(services));
  await app.register(sweepRoutes(services));
  await app.register(resultRoutes(services));
  await app.register(agentRoutes(services));
  return app;
}

import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Schedule, Watch } from '../../shared/api.js';
import type { Config } from '../../shared/config.js';
import { EgressPolicy } from '../../shared/egress.js';
import type { Logger } from '../../shared/log.js';
import type { Aggregator } from '../aggregate/aggregator.js';
import type { Alerting } from '../alerting/index.js';
import type { EventBus } from '../events.js';
import type { Fleet } from '../fleet.js';
import type { InjectorRegistry } from '../injectors.js';
import type { LatestReports } from '../latest.js';
import type { ControllerMetrics } from '../metrics.js';
import type { Cluster } from '../partition/cluster.js';
import type { ResultsReader } from '../results.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { KvCollection } from '../state/kvcollection.js';
import { StoreUnavailable } from '../state/kvcollection.js';
import type { TargetStore } from '../state/targets.js';
import type { SweepService } from '../sweeps.js';
import type { WatchService } from '../watches.js';
import { authHook } from './auth.js';
import { SseLimiter } from './limits.js';
import { openapiOptions } from './openapi.js';
import { addPagination, pageOf } from './paginate.js';
import { asProblem, PROBLEM_TYPE, problem } from './problem.js';
import { redactForViewers } from './redact.js';
import { agentRoutes } from './routes/agents.js';
import { alertRoutes } from './routes/alerts.js';
import { boardRoutes } from './routes/board.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { injectorRoutes } from './routes/injectors.js';
import { metricsRoutes } from './routes/metrics.js';
import { receiverRoutes } from './routes/receivers.js';
import { resultRoutes } from './routes/results.js';
import { ruleRoutes } from './routes/rules.js';
import { runbookRoutes } from './routes/runbooks.js';
import { scheduleRoutes } from './routes/schedules.js';
import { seriesRoutes } from './routes/series.js';
import { sessionRoutes } from './routes/session.js';
import { silenceRoutes } from './routes/silences.js';
import { summaryRoutes } from './routes/summary.js';
import { sweepRoutes } from './routes/sweeps.js';
import { targetRoutes } from './routes/targets.js';
import { watchRoutes } from './routes/watches.js';
import { Sessions } from './session.js';
import { uiDir, uiRoutes } from './ui.js';

/** What route handlers may call: each route is a thin call into one of these. */
export interface Services {
  sweeps: SweepService;
  targets: TargetStore;
  results: ResultsReader;
  fleet: Fleet;
  /** Clock-strip injectors from their heartbeats (controller/injectors.ts). */
  injectors?: InjectorRegistry;
  aggregator: Aggregator;
  /** The last few reports per target x region (the board's cells). */
  latest: LatestReports;
  events: EventBus;
  metrics: ControllerMetrics;
  schedules: KvCollection<typeof Schedule>;
  scheduler: Scheduler;
  watches: KvCollection<typeof Watch>;
  watchService: WatchService;
  /** Rules, silences, alerts (controller/alerting). */
  alerting: Alerting;
  ready: () => boolean;
  /** What targets, sweeps and watches may point at (shared/egress.ts); default: the strict policy. */
  egress?: EgressPolicy;
  /** Caps on open event streams (set by buildApi from the config). */
  sse?: SseLimiter;
  /** Fleet-wide answers merged across replicas (partitioned ingest: controller/partition/). */
  cluster?: Cluster;
  /** Bounds on stored silences (set by buildApi from the config). */
  silenceLimits?: { max: number; maxHours: number };
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  ZodTypeProvider
>;

export async function buildApi(services: Services, cfg: Config['controller'], logger: Logger): Promise<App> {
  services.egress ??= new EgressPolicy();
  services.sse ??= new SseLimiter(cfg.sseMaxPerToken, cfg.sseMax);
  services.silenceLimits ??= { max: cfg.silencesMax, maxHours: cfg.silenceMaxHours };
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: cfg.bodyLimitKb * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  // Cookies are parsed before auth (the page's session cookie); auth runs before the rate limiter so it
  // can key writes by token name.
  await app.register(cookie);
  const sessions = new Sessions(cfg.tokens);
  app.addHook('onRequest', authHook(cfg.tokens, sessions));
  // Writes and reads have their own budgets per token; public routes (health) are not limited.
  const isRead = (method: string) => method === 'GET' || method === 'HEAD';
  await app.register(rateLimit, {
    max: (req) => (isRead(req.method) ? cfg.readRateLimitPerMin : cfg.writeRateLimitPerMin),
    timeWindow: '1 minute',
    allowList: (req) => req.method === 'OPTIONS' || req.routeOptions.config?.public === true,
    keyGenerator: (req) => `${isRead(req.method) ? 'r' : 'w'}:${req.principal?.name ?? req.ip}`,
  });
  // Signed URLs never reach a viewer: every JSON body to one has its URLs' query strings blanked.
  app.addHook('preSerialization', redactForViewers);
  // Request durations by route template (bounded: unmatched paths share one label); the SSE feed is left
  // out, its "duration" is how long a client stayed connected.
  app.addHook('onResponse', async (req, reply) => {
    if (String(reply.raw.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    services.metrics.observeHttp(
      req.method,
      req.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Every error is an RFC 9457 problem document (controller/api/problem.ts); validation errors list each
  // invalid field in `issues` (path like body.durationS).
  app.setErrorHandler((err, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return problem(reply, 400, `invalid ${err.validationContext ?? 'request'}`, {
        error: 'validation',
        issues: err.validation.map((v) => ({
          path: [err.validationContext, ...String(v.instancePath).split('/').filter(Boolean)].join('.'),
          message: v.message ?? 'invalid',
        })),
      });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    // The state store down for longer than its retries: say so, and when to try again.
    if (err instanceof StoreUnavailable) {
      reply.header('retry-after', '5');
      return problem(reply, 503, err.message, { error: 'unavailable' });
    }
    // A 5xx detail would leak internals; the log has them.
    return problem(
      reply,
      status,
      status >= 500 ? 'internal error (see the controller log)' : (err as Error).message,
    );
  });
  app.setNotFoundHandler((req, reply) =>
    problem(reply, 404, `no route ${req.method} ${req.url.split('?')[0]}`),
  );
  // Lists get ?limit=&cursor= (paginate.ts); registered before swagger so the document shows them.
  app.addHook('onRoute', addPagination);
  app.addHook('preSerialization', async (req, reply, payload) => {
    if (reply.statusCode < 400) return pageOf(req, reply, payload);
    // Error answers sent in another shape (a plugin, an older route) still leave as problem+json.
    reply.type(PROBLEM_TYPE);
    return asProblem(reply.statusCode, payload, req.url.split('?')[0] as string);
  });

  await app.register(swagger, openapiOptions());
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Swagger UI: public like the page (the document holds no data; calls from it carry the caller's token).
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), public: true } as typeof route.config;
    });
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: false } });
  });

  await app.register(healthRoutes(services));
  await app.register(targetRoutes(services));
  await app.register(sweepRoutes(services));
  await app.register(resultRoutes(services));
  await app.register(agentRoutes(services));
  await app.register(injectorRoutes(services));
  await app.register(summaryRoutes(services));
  await app.register(scheduleRoutes(services));
  await app.register(watchRoutes(services));
  await app.register(alertRoutes(services));
  await app.register(ruleRoutes(services));
  await app.register(silenceRoutes(services));
  await app.register(receiverRoutes(services));
  await app.register(eventRoutes(services));
  await app.register(metricsRoutes(services));
  await app.register(runbookRoutes());
  await app.register(seriesRoutes(services));
  await app.register(boardRoutes(services));
  await app.register(sessionRoutes(cfg.tokens, sessions));
  await app.register(uiRoutes(uiDir()));
  return app;
}

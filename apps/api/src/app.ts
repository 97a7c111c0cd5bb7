import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { type GenlabPlugin, InProcessExecutor, type JobExecutor, type ModelRegistry } from '@lab/api-plugin';
import { buildOpenApiDocument, createGenlabRouter, type GenlabRouter, requestId, useProblemHandlers } from '@lab/api-plugin/express';
import type { Logger } from '@lab/core';
import { silentLogger } from '@lab/core';
import cors from 'cors';
import express from 'express';
import helmet from 'helmet';
import type { ApiConfig } from './config.js';
import { type ApiMetrics, createMetrics } from './metrics.js';
import { PoolExecutor } from './pool/pool-executor.js';
import { startQueueMode } from './queue/queue-mode.js';
import { DOCS_HTML, DOCS_INIT_JS, playgroundRoutes } from './web/playground.js';
import { TRAINING_ENERGIES_PATH, trainingEnergiesRoute } from './web/training-energies.js';

export interface ApiApp {
  readonly app: express.Express;
  readonly genlab: GenlabRouter;
  readonly registry: ModelRegistry;
  readonly metrics: ApiMetrics;
  /** Stops accepting jobs, waits for running ones, frees workers and models. */
  close(): Promise<void>;
}

export interface CreateApiAppOptions {
  readonly config: Pick<ApiConfig, 'poolSize' | 'queueSize' | 'timeoutMs' | 'bodyLimit' | 'previewEvery'> &
    Partial<Pick<ApiConfig, 'token' | 'corsOrigins' | 'backend' | 'queue'>>;
  readonly plugins: readonly GenlabPlugin[];
  readonly logger?: Logger;
  /** Overrides the executor (tests); default: a worker pool, or in-process when poolSize is 0. */
  readonly executor?: (registry: ModelRegistry) => JobExecutor;
  /** Worker script for the pool (tests point it at the compiled worker). */
  readonly workerFile?: string | URL;
  /** The models folder, for `GET /v1/models/:id/training-energies` (404 without it). */
  readonly modelsDir?: string;
}

const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/**
 * Builds the express app: security headers, CORS, request ids, metrics, health, docs,
 * playground and the model routes of every registered plugin. Waits until every model has
 * loaded (or been marked unavailable) before starting the worker pool, which loads its own copies.
 */
export async function createApiApp(options: CreateApiAppOptions): Promise<ApiApp> {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  let executor: JobExecutor | undefined;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  // Metrics need the registry, which exists only after plugins registered: resolve lazily.
  let metrics: ApiMetrics | undefined;
  app.use(requestId());
  app.use((req, res, next) => (metrics ? metrics.http(req, res, next) : next()));
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { 'img-src': ["'self'", 'data:'], 'script-src': ["'self'"], 'style-src': ["'self'"] } },
    }),
  );
  if (config.corsOrigins?.length) {
    app.use(
      cors({
        origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
        exposedHeaders: ['X-Seed', 'X-Request-Id', 'Retry-After'],
      }),
    );
  }
  app.use((req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      logger.info('request', {
        requestId: res.locals.requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round(performance.now() - start),
      });
    });
    next();
  });

  const genlab = await createGenlabRouter({
    plugins: options.plugins,
    logger,
    bodyLimit: config.bodyLimit,
    timeoutMs: config.timeoutMs,
    previewEvery: config.previewEvery,
    ...(config.token ? { token: config.token } : {}),
    onJob: (event) => metrics?.onJob(event),
    executor: () => ({
      // The pool starts after loading (it copies only loadable models): delegate until then.
      submit: (job, run) => active().submit(job, run),
      stats: () => active().stats(),
      drain: () => active().drain(),
      close: () => active().close(),
    }),
  });
  const registry = genlab.registry;
  await genlab.loaded;
  const queueMode =
    config.queue && !options.executor
      ? startQueueMode(registry, options.plugins, config, config.queue, options.workerFile, logger)
      : undefined;
  executor =
    options.executor?.(registry) ??
    queueMode?.executor ??
    (config.poolSize > 0
      ? new PoolExecutor(registry, {
          plugins: options.plugins,
          size: config.poolSize,
          maxQueue: config.queueSize,
          ...(config.backend ? { backend: config.backend } : {}),
          ...(options.workerFile ? { workerFile: options.workerFile } : {}),
        })
      : new InProcessExecutor(registry, { concurrency: 1, maxQueue: config.queueSize }));
  function active(): JobExecutor {
    if (!executor) throw new Error('executor not started');
    return executor;
  }
  metrics = createMetrics(registry, () => executor);
  queueMode?.registerMetrics(metrics.registry);

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });
  app.get('/ready', async (_req, res) => {
    const models = registry.list().map((m) => ({ id: m.id, status: m.status, ...(m.reason ? { reason: m.reason } : {}) }));
    const shared = await queueMode?.executor.health();
    const ready = registry.settled() && shared?.reachable !== false;
    const status = ready ? 'ready' : shared?.reachable === false ? 'queue unreachable' : 'loading';
    res.status(ready ? 200 : 503).json({ status, models, queue: executor?.stats(), ...(shared ? { sharedQueue: shared } : {}) });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics?.registry.contentType ?? 'text/plain').send(await metrics?.registry.metrics());
  });
  const openapi = buildOpenApiDocument({ bearer: Boolean(config.token) });
  Object.assign(openapi.paths as Record<string, unknown>, TRAINING_ENERGIES_PATH);
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_HTML);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(DOCS_INIT_JS);
  });
  app.use('/docs/assets', express.static(swaggerDir, { index: false, maxAge: '1h' }));
  playgroundRoutes(app);
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  trainingEnergiesRoute(app, registry, options.modelsDir);
  app.use(genlab.router);
  useProblemHandlers(app, logger);

  return {
    app,
    genlab,
    registry,
    metrics,
    close: async () => {
      await queueMode?.closeLocalWorker();
      await genlab.close();
    },
  };
}

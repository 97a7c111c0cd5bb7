import { isGenlabError, type Logger, silentLogger } from '@lab/core';
import express, { type Router } from 'express';
import { InProcessExecutor, type JobExecutor } from '../executor.js';
import type { GenlabPlugin } from '../plugin.js';
import { registerPlugins } from '../register.js';
import { ModelRegistry } from '../registry.js';
import { Services } from '../services.js';
import { notFoundHandler, problemHandler } from './problem.js';
import { createModelRoutes, type ModelRoutesOptions } from './routes.js';

export { bearerAuth, requestId } from './middleware.js';
export { buildOpenApiDocument } from './openapi.js';
export type { JobEvent } from './routes.js';

export interface GenlabRouterOptions extends Omit<ModelRoutesOptions, 'registry' | 'executor'> {
  readonly plugins: readonly GenlabPlugin[];
  /** Per-plugin configuration, keyed by plugin name (workers get the same; keep it structured-cloneable). */
  readonly config?: Record<string, unknown>;
  readonly logger?: Logger;
  /** Builds the executor once plugins registered (default: an in-process executor). */
  readonly executor?: (registry: ModelRegistry) => JobExecutor;
  /** JSON body limit (default '1mb'). */
  readonly bodyLimit?: string;
}

export interface GenlabRouter {
  readonly router: Router;
  readonly registry: ModelRegistry;
  readonly executor: JobExecutor;
  /** The values the plugins shared while registering on this thread. */
  readonly services: Services;
  /** Resolves when every model has loaded or been marked unavailable. */
  readonly loaded: Promise<void>;
  /** Drains running jobs, closes the executor, frees the models. */
  close(): Promise<void>;
}

/**
 * Everything genlab serves, as one express router: registers the plugins (in dependency
 * order, failing fast), starts loading their models, and mounts the model routes.
 *
 * ```ts
 * const genlab = await createGenlabRouter({ plugins: [diffusionPlugin({ id: 'ddpm', dir: './models/ddpm' })] });
 * app.use(genlab.router);
 * ```
 */
export async function createGenlabRouter(options: GenlabRouterOptions): Promise<GenlabRouter> {
  const logger = options.logger ?? silentLogger;
  const registry = new ModelRegistry();
  const services = new Services();
  const router = express.Router();
  router.use(express.json({ limit: options.bodyLimit ?? '1mb' }));
  await registerPlugins(options.plugins, {
    registry,
    services,
    logger,
    ...(options.config ? { config: options.config } : {}),
    routesFor: () => {
      const pluginRouter = express.Router();
      router.use(pluginRouter);
      return pluginRouter;
    },
  });
  const loaded = registry.loadAll().then(() => {
    for (const model of registry.list()) {
      if (model.status === 'unavailable') logger.warn('model unavailable', { model: model.id, reason: model.reason });
      else logger.info('model ready', { model: model.id, kind: model.kind });
    }
  });
  const executor = options.executor?.(registry) ?? new InProcessExecutor(registry);
  router.use(createModelRoutes({ ...options, registry, executor }));
  return {
    router,
    registry,
    executor,
    services,
    loaded,
    async close() {
      await executor.close();
      registry.dispose();
    },
  };
}

/** Adds the 404 and problem+json error handlers; call after mounting every route. */
export function useProblemHandlers(app: express.Express | Router, logger: Logger = silentLogger): void {
  app.use(notFoundHandler());
  app.use(
    problemHandler({
      log: (error, problem) => {
        if (problem.status < 500) return;
        // Expected conditions (a model unavailable, a timeout) are warnings; anything else is a bug.
        if (isGenlabError(error)) logger.warn('request failed', { status: problem.status, detail: problem.detail });
        else logger.error('request failed', { status: problem.status, error: error instanceof Error ? error.stack : String(error) });
      },
    }),
  );
}

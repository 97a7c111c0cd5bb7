import { isGenlabError, type Logger, silentLogger } from '@lab/core';
import express, { type Router } from 'express';
import { createPluginContainer, type DependencyContainer, MODEL_REGISTRY } from '../di.js';
import { InProcessExecutor, type JobExecutor } from '../executor.js';
import type { GenlabPlugin } from '../plugin.js';
import { registerPlugins } from '../register.js';
import type { ModelRegistry } from '../registry.js';
import { notFoundHandler, problemHandler } from './problem.js';
import { createModelRoutes, type ModelRoutesOptions } from './routes.js';

export { bearerAuth, requestId } from './middleware.js';
export { buildOpenApiDocument } from './openapi.js';
export type { JobEvent } from './routes.js';

export interface GenlabRouterOptions extends Omit<ModelRoutesOptions, 'registry' | 'executor'> {
  readonly plugins: readonly GenlabPlugin[];
  /** Parent of the app's child container (default: tsyringe's global container, which genlab never registers into). */
  readonly container?: DependencyContainer;
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
  /** The app's tsyringe child container: the registry (`MODEL_REGISTRY`) and whatever the plugins registered. */
  readonly container: DependencyContainer;
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
  const container = createPluginContainer(options.container ? { parent: options.container } : {});
  const registry = container.resolve(MODEL_REGISTRY);
  const router = express.Router();
  router.use(express.json({ limit: options.bodyLimit ?? '1mb' }));
  await registerPlugins(options.plugins, {
    container,
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
    container,
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

#!/usr/bin/env node
/**
 * A sampling worker for the shared queue: `GENLAB_QUEUE_URL=redis://… npm run worker`. It loads
 * the models under GENLAB_MODELS_DIR, runs GENLAB_POOL_SIZE worker threads (default 1; 0 runs
 * jobs on this thread) and takes jobs only from the queues of the models it loaded. Other
 * settings: GENLAB_BACKEND, GENLAB_QUEUE_* (see docs/deploy.md), GENLAB_LOG_LEVEL.
 */
import { createPluginContainer, InProcessExecutor, type JobExecutor, MODEL_REGISTRY, registerPlugins } from '@lab/api-plugin';
import { createLogger, initBackend, parseBackendName } from '@lab/core';
import { loadConfig } from '../config.js';
import { defaultPlugins } from '../plugins.js';
import { PoolExecutor } from '../pool/pool-executor.js';
import { redactUrl } from './connection.js';
import { QueueWorker } from './queue-worker.js';

async function main(): Promise<void> {
  const logger = createLogger({ fields: { service: 'genlab-worker' } });
  const config = loadConfig({ GENLAB_POOL_SIZE: '1', ...process.env });
  if (!config.queue) throw new Error('GENLAB_QUEUE_URL is not set: a worker needs the queue (redis://host:port)');
  const backend = await initBackend({ logger, ...(config.backend ? { force: parseBackendName(config.backend) } : {}) });
  const container = createPluginContainer();
  const registry = container.resolve(MODEL_REGISTRY);
  const plugins = defaultPlugins(config.modelsDir);
  await registerPlugins(plugins, { container, logger });
  await registry.loadAll();
  const executor: JobExecutor =
    config.poolSize > 0
      ? new PoolExecutor(registry, {
          plugins,
          size: config.poolSize,
          maxQueue: config.poolSize,
          ...(config.backend ? { backend: config.backend } : {}),
        })
      : new InProcessExecutor(registry, { concurrency: 1, maxQueue: 1 });
  const worker = new QueueWorker({ settings: config.queue, registry, executor, logger });
  if (worker.models.length === 0) logger.warn('no model loaded: this worker takes no jobs', { modelsDir: config.modelsDir });
  logger.info('worker started', {
    queue: redactUrl(config.queue.url),
    models: worker.models,
    threads: config.poolSize,
    backend: backend.name,
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info('signal received: finishing running jobs', { signal });
    worker
      .close()
      .then(() => executor.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error: String(error) });
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`genlab-worker failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

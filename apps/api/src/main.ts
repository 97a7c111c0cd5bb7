#!/usr/bin/env node
/**
 * The genlab API server. Settings come from environment variables (see apps/api/README.md):
 * PORT, HOST, GENLAB_MODELS_DIR, GENLAB_POOL_SIZE, GENLAB_QUEUE_SIZE, GENLAB_API_TOKEN,
 * GENLAB_TIMEOUT_MS, GENLAB_BODY_LIMIT, GENLAB_CORS_ORIGINS, GENLAB_PREVIEW_EVERY,
 * GENLAB_SHUTDOWN_GRACE_MS, GENLAB_BACKEND, GENLAB_LOG_LEVEL, and for the shared queue
 * GENLAB_QUEUE_URL and GENLAB_QUEUE_* (docs/deploy.md).
 */
import { createLogger, initBackend } from '@lab/core';
import { createApiApp } from './app.js';
import { loadConfig } from './config.js';
import { defaultPlugins } from './plugins.js';
import { redactUrl } from './queue/connection.js';
import { listen } from './server.js';

async function main(): Promise<void> {
  const logger = createLogger({ fields: { service: 'genlab-api' } });
  const config = loadConfig();
  // The main thread only decodes requests and loads models for metadata; workers do the sampling.
  const backend = await initBackend({ logger });
  logger.info('starting', {
    modelsDir: config.modelsDir,
    poolSize: config.poolSize,
    queueSize: config.queueSize,
    backend: backend.name,
    auth: Boolean(config.token),
    queue: config.queue ? redactUrl(config.queue.url) : 'embedded',
  });
  const api = await createApiApp({ config, plugins: defaultPlugins(config.modelsDir), logger, modelsDir: config.modelsDir });
  const running = await listen(api, config.port, config.host, logger);
  logger.info('listening', { url: `http://localhost:${running.port}`, models: api.registry.list().map((m) => `${m.id}:${m.status}`) });
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) process.exit(1);
    logger.info('signal received', { signal });
    running.stop(config.shutdownGraceMs).then(
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
  process.stderr.write(`genlab-api failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

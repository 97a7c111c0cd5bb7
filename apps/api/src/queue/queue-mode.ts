import type { GenlabPlugin, ModelRegistry } from '@lab/api-plugin';
import type { Logger } from '@lab/core';
import { Gauge, type Registry } from 'prom-client';
import type { ApiConfig } from '../config.js';
import { PoolExecutor } from '../pool/pool-executor.js';
import { QueueExecutor } from './queue-executor.js';
import { QueueWorker } from './queue-worker.js';
import type { QueueSettings } from './settings.js';

export interface QueueMode {
  readonly executor: QueueExecutor;
  /** Adds the shared queue's gauges (depth and workers per model, reachability) to /metrics. */
  registerMetrics(registry: Registry): void;
  /** Stops this node's own queue worker, if GENLAB_POOL_SIZE asked for one. */
  closeLocalWorker(): Promise<void>;
}

/**
 * The API in queue mode: jobs go to the shared queue. With `poolSize` > 0 this node also runs a
 * queue worker of that many threads (it then samples like any other worker); with 0 it samples nothing.
 */
export function startQueueMode(
  registry: ModelRegistry,
  plugins: readonly GenlabPlugin[],
  config: Pick<ApiConfig, 'poolSize' | 'queueSize'> & Partial<Pick<ApiConfig, 'backend'>>,
  settings: QueueSettings,
  workerFile: string | URL | undefined,
  logger: Logger,
): QueueMode {
  const executor = new QueueExecutor(registry, { settings, maxQueue: config.queueSize, logger });
  let local: { worker: QueueWorker; pool: PoolExecutor } | undefined;
  if (config.poolSize > 0) {
    const pool = new PoolExecutor(registry, {
      plugins,
      size: config.poolSize,
      maxQueue: config.poolSize,
      ...(config.backend ? { backend: config.backend } : {}),
      ...(workerFile ? { workerFile } : {}),
    });
    local = { pool, worker: new QueueWorker({ settings, registry, executor: pool, logger }) };
  }
  return {
    executor,
    registerMetrics: (registry) => registerQueueMetrics(registry, executor),
    async closeLocalWorker() {
      if (!local) return;
      await local.worker.close();
      await local.pool.close();
    },
  };
}

function registerQueueMetrics(registry: Registry, executor: QueueExecutor): void {
  // One health read serves all three gauges of a scrape.
  let scrape: Promise<Awaited<ReturnType<QueueExecutor['health']>>> | undefined;
  const health = () => {
    scrape ??= executor.health().finally(() => setImmediate(() => (scrape = undefined)));
    return scrape;
  };
  new Gauge({
    name: 'genlab_queue_reachable',
    help: '1 when the shared job queue (Redis) answers',
    registers: [registry],
    async collect() {
      this.set((await health()).reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'genlab_queue_depth',
    help: 'Jobs in the shared queue by model and state (waiting, active)',
    labelNames: ['model', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [model, m] of Object.entries((await health()).models)) {
        this.set({ model, state: 'waiting' }, m.waiting);
        this.set({ model, state: 'active' }, m.active);
      }
    },
  });
  new Gauge({
    name: 'genlab_queue_workers',
    help: 'Worker processes serving each model',
    labelNames: ['model'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [model, m] of Object.entries((await health()).models)) this.set({ model }, m.workers);
    },
  });
}

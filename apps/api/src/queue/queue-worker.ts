import type { JobExecutor, ModelRegistry } from '@lab/api-plugin';
import { CancelledError, type Logger, silentLogger } from '@lab/core';
import { type Job as BullJob, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { serializeError } from '../pool/protocol.js';
import { createRedis, queueKeys, queueName } from './connection.js';
import type { QueueSettings } from './settings.js';
import { decodeJob, encodeProgress, encodeResult } from './wire.js';

export interface QueueWorkerOptions {
  readonly settings: QueueSettings;
  /** The loaded models: the worker serves the ready ones, one BullMQ queue each. */
  readonly registry: ModelRegistry;
  /** Runs the jobs (a worker-thread pool, or in-process); its concurrency is the worker's. */
  readonly executor: JobExecutor;
  readonly logger?: Logger;
}

/**
 * Takes jobs from the queues of the models this process loaded and runs them on `executor`
 * (the same `runJob` as the in-process pool). Every job is validated again here; progress goes
 * out on a pub/sub channel, the result into a key with a TTL that the API node deletes on reading,
 * and a cancel flag (key + channel) from the API aborts a running job at its next step.
 */
export class QueueWorker {
  private readonly running = new Map<string, AbortController>();
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly keys: ReturnType<typeof queueKeys>;
  private readonly logger: Logger;
  readonly models: readonly string[];

  constructor(private readonly options: QueueWorkerOptions) {
    const { settings, registry, executor } = options;
    this.logger = options.logger ?? silentLogger;
    this.keys = queueKeys(settings.prefix);
    this.commands = this.connection('genlab-worker');
    this.subscriber = this.connection('genlab-worker-cancel');
    this.subscriber.on('message', (_channel: string, jobId: string) => this.running.get(jobId)?.abort(cancelled()));
    void this.subscriber.subscribe(this.keys.cancelChannel).catch((error: unknown) => this.warn('subscribe', error));
    this.models = registry.list().flatMap((m) => (m.status === 'ready' ? [m.id] : []));
    const concurrency = executor.stats().concurrency;
    for (const model of this.models) {
      const worker = new Worker(queueName(model), (job, _token, signal) => this.process(model, job, signal), {
        connection: this.connection(`genlab-worker-${model}`),
        prefix: settings.prefix,
        concurrency,
        lockDuration: settings.lockMs,
        stalledInterval: settings.lockMs,
        maxStalledCount: settings.maxStalls,
      });
      worker.on('error', (error) => this.warn(`worker ${model}`, error));
      this.workers.push(worker);
    }
  }

  private connection(name: string): Redis {
    const client = createRedis(this.options.settings, 'blocking', name);
    client.on('error', (error) => this.warn(name, error));
    this.connections.push(client);
    return client;
  }

  private async process(model: string, bullJob: BullJob, bullSignal?: AbortSignal): Promise<string> {
    const id = bullJob.id as string;
    const start = performance.now();
    const controller = new AbortController();
    const abort = () => controller.abort(cancelled());
    bullSignal?.addEventListener('abort', abort, { once: true });
    this.running.set(id, controller);
    try {
      // Registered before this check, so a cancel published from now on reaches `controller`.
      if (await this.commands.exists(this.keys.cancel(id))) throw new CancelledError('Cancelled before it started');
      const job = decodeJob(bullJob.data, model, this.options.registry.require(model).info);
      const result = await this.options.executor.submit(job, {
        signal: controller.signal,
        onProgress: (progress) => {
          this.commands.publish(this.keys.progress(id), encodeProgress(progress)).catch((error: unknown) => this.warn('progress', error));
        },
      });
      // A job that vanished meanwhile (Redis restarted without it) has nobody to read its result.
      if (!(await this.commands.exists(`${this.options.settings.prefix}:${queueName(model)}:${id}`))) {
        throw new Error(`Job ${id} is no longer in the queue; its result is dropped`);
      }
      await this.commands.set(this.keys.result(id), encodeResult(result), 'EX', this.options.settings.resultTtlSeconds);
      this.logger.info('job done', { jobId: id, model, op: job.op, ms: Math.round(performance.now() - start) });
      return 'ok';
    } catch (error) {
      if (!(error instanceof CancelledError)) {
        this.logger.warn('job failed', { jobId: id, model, error: error instanceof Error ? error.message : String(error) });
      }
      // The API node rebuilds the error with its class (400, 404, 503…) from this JSON.
      throw new Error(JSON.stringify(serializeError(error)));
    } finally {
      bullSignal?.removeEventListener('abort', abort);
      this.running.delete(id);
      this.commands.del(this.keys.cancel(id)).catch(() => undefined);
    }
  }

  private lastWarning = 0;
  private warn(where: string, error: unknown): void {
    // Redis being away makes every connection complain every retry: log at most once a second.
    const now = Date.now();
    if (now - this.lastWarning < 1000) return;
    this.lastWarning = now;
    this.logger.warn('queue connection problem', { where, error: error instanceof Error ? error.message : String(error) });
  }

  /** Stops taking jobs, lets running ones finish, closes every connection. */
  async close(): Promise<void> {
    // With Redis away a graceful close would wait for it forever: then stop at once.
    const force = this.commands.status !== 'ready';
    await Promise.all(this.workers.map((w) => w.close(force)));
    for (const client of this.connections) client.disconnect();
  }
}

function cancelled(): CancelledError {
  return new CancelledError('Cancelled by the server');
}

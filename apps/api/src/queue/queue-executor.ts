import { randomUUID } from 'node:crypto';
import type { AdmissionStats, Job, JobExecutor, JobResult, ModelRegistry, RunOptions } from '@lab/api-plugin';
import { CancelledError, type Logger, OverloadedError, silentLogger, UnavailableError } from '@lab/core';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { deserializeError, type SerializedError } from '../pool/protocol.js';
import { createRedis, queueKeys, queueName } from './connection.js';
import type { QueueSettings } from './settings.js';
import { decodeProgress, decodeResult, encodeJob } from './wire.js';

/** One model's queue as /ready and /metrics report it. */
export interface ModelQueueHealth {
  readonly workers: number;
  readonly waiting: number;
  readonly active: number;
}

export interface QueueHealth {
  readonly reachable: boolean;
  readonly error?: string;
  readonly models: Readonly<Record<string, ModelQueueHealth>>;
}

export interface QueueExecutorOptions {
  readonly settings: QueueSettings;
  /** Jobs allowed to wait in a model's shared queue; more → 429 with Retry-After. */
  readonly maxQueue: number;
  readonly logger?: Logger;
  /** How often the cached depth behind stats() is refreshed (ms). */
  readonly refreshMs?: number;
}

interface Pending {
  resolve: () => void;
  reject: (error: unknown) => void;
}

const HEALTH_TIMEOUT_MS = 2_000;
const CLOSE_TIMEOUT_MS = 2_000;
const FIRST_CONNECTION_WAIT_MS = 2_000;

/**
 * Sends jobs to the shared BullMQ queue of their model and waits for a worker (on any machine)
 * to run them. Admission reads the shared depth (429 when `maxQueue` jobs wait, 503 when Redis
 * is unreachable or no worker serves the model); cancellation removes a waiting job or flags a
 * running one; progress comes back over pub/sub, the result from a key deleted on reading.
 */
export class QueueExecutor implements JobExecutor {
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly queues = new Map<string, { queue: Queue; events: QueueEvents; events$: Redis }>();
  private readonly pending = new Map<string, Pending>();
  private readonly progress = new Map<string, NonNullable<RunOptions['onProgress']>>();
  private readonly gates = new Map<string, Promise<unknown>>();
  private readonly keys: ReturnType<typeof queueKeys>;
  private readonly logger: Logger;
  private readonly timer: NodeJS.Timeout;
  private durationsMs: number[] = [];
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private cached: Record<string, ModelQueueHealth> = {};
  /** Resolves once the first connection is up: requests arriving before that wait for it, briefly. */
  private readonly firstConnection: Promise<void>;
  private connectedOnce = false;

  constructor(
    registry: ModelRegistry,
    private readonly options: QueueExecutorOptions,
  ) {
    const { settings } = options;
    this.logger = options.logger ?? silentLogger;
    this.keys = queueKeys(settings.prefix);
    this.client = createRedis(settings, 'request', 'genlab-api');
    this.client.on('error', (error) => this.warn('api', error));
    this.firstConnection = new Promise((resolve) => this.client.once('ready', () => resolve()));
    void this.firstConnection.then(() => {
      this.connectedOnce = true;
    });
    // Redis went away: jobs in flight may be lost with it, so their requests fail now (503)
    // rather than at their timeout. New requests fail fast until it is back.
    this.client.on('close', () => this.failPending(new UnavailableError('Lost the connection to the job queue (Redis)')));
    this.subscriber = createRedis(settings, 'blocking', 'genlab-api-progress');
    this.subscriber.on('error', (error) => this.warn('progress', error));
    this.subscriber.on('message', (channel: string, message: string) => {
      const report = this.progress.get(channel.slice(this.keys.progress('').length));
      if (report) report(decodeProgress(message));
    });
    for (const model of registry.ids()) {
      const events$ = createRedis(settings, 'blocking', `genlab-api-events-${model}`);
      events$.on('error', (error) => this.warn('events', error));
      const queue = new Queue(queueName(model), { connection: this.client, prefix: settings.prefix });
      queue.on('error', (error) => this.warn(`queue ${model}`, error));
      const events = new QueueEvents(queueName(model), { connection: events$, prefix: settings.prefix });
      events.on('error', (error) => this.warn(`events ${model}`, error));
      events.on('completed', ({ jobId }) => this.pending.get(jobId)?.resolve());
      events.on('failed', ({ jobId, failedReason }) => this.pending.get(jobId)?.reject(errorFromReason(failedReason)));
      this.queues.set(model, { queue, events, events$ });
    }
    this.timer = setInterval(() => void this.health(), options.refreshMs ?? 2_000);
    this.timer.unref();
  }

  async submit(job: Job, options: RunOptions = {}): Promise<JobResult> {
    const { signal, onProgress } = options;
    if (signal?.aborted) throw new CancelledError('Cancelled before it started');
    const entry = this.queues.get(job.model);
    if (!entry) throw new UnavailableError(`Model "${job.model}" has no queue`);
    const id = randomUUID();
    const start = performance.now();
    this.inFlight++;
    let settle: Pending | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    finished.catch(() => undefined); // Awaited below; a rejection before that is not unhandled.
    const onAbort = () => {
      settle?.reject(signal?.reason instanceof Error ? signal.reason : new CancelledError('Cancelled'));
      void this.cancel(entry.queue, id);
    };
    try {
      const data = encodeJob(job);
      await this.admit(job.model, entry.queue, async () => {
        if (onProgress) {
          this.progress.set(id, onProgress);
          await this.subscriber.subscribe(this.keys.progress(id));
        }
        this.pending.set(id, settle as Pending);
        signal?.addEventListener('abort', onAbort, { once: true });
        if (signal?.aborted) throw signal.reason;
        await entry.queue
          .add(job.op, data, { jobId: id, attempts: 1, removeOnComplete: true, removeOnFail: true })
          .catch((error: unknown) => {
            throw unreachable(error);
          });
      });
      await finished;
      const text = await this.client.getdel(this.keys.result(id)).catch((error: unknown) => {
        throw unreachable(error);
      });
      if (text === null) throw new UnavailableError('The job finished but its result was gone from the queue');
      this.durationsMs = [...this.durationsMs.slice(-19), performance.now() - start];
      return decodeResult(text);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.pending.delete(id);
      if (this.progress.delete(id)) this.subscriber.unsubscribe(this.keys.progress(id)).catch(() => undefined);
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /**
   * Checks the shared depth and worker count, then `add`s the job; one check-and-add at a time
   * per model on this node, so its own burst cannot overfill the queue (nodes may still race).
   */
  private admit(model: string, queue: Queue, add: () => Promise<void>): Promise<void> {
    const previous = this.gates.get(model) ?? Promise.resolve();
    const check = previous.then(async () => {
      if (this.client.status !== 'ready' && !this.connectedOnce)
        await Promise.race([this.firstConnection, delay(FIRST_CONNECTION_WAIT_MS)]);
      if (this.client.status !== 'ready') throw new UnavailableError('The job queue (Redis) is unreachable');
      const health = await this.modelHealth(queue).catch((error: unknown) => {
        throw unreachable(error);
      });
      this.cached[model] = health;
      if (health.workers === 0) throw new UnavailableError(`No worker serves model "${model}"`);
      if (health.waiting >= this.options.maxQueue) {
        throw new OverloadedError(
          `The queue of "${model}" is full (${health.active} running, ${health.waiting} waiting)`,
          this.retryAfterSeconds(health),
        );
      }
      await add();
    });
    this.gates.set(
      model,
      check.catch(() => undefined),
    );
    return check;
  }

  private async modelHealth(queue: Queue): Promise<ModelQueueHealth> {
    const [counts, workers] = await Promise.all([queue.getJobCounts('waiting', 'prioritized', 'active'), queue.getWorkersCount()]);
    return { workers, waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0 };
  }

  /** A waiting job is removed; a running one gets the cancel flag its worker checks between steps. */
  private async cancel(queue: Queue, id: string): Promise<void> {
    try {
      if ((await queue.remove(id)) === 1) return;
      await this.client
        .multi()
        .set(this.keys.cancel(id), '1', 'EX', this.options.settings.resultTtlSeconds)
        .publish(this.keys.cancelChannel, id)
        .exec();
      // A result written just before the flag landed would wait for its TTL: drop it now.
      await this.client.del(this.keys.result(id));
    } catch (error) {
      this.warn('cancel', error);
    }
  }

  /** Live state for /ready and /metrics: whether Redis answers, and each model's workers and depth. */
  async health(): Promise<QueueHealth> {
    if (this.client.status !== 'ready') return { reachable: false, error: `connection ${this.client.status}`, models: {} };
    try {
      const entries = await withTimeout(
        Promise.all([...this.queues].map(async ([model, { queue }]) => [model, await this.modelHealth(queue)] as const)),
        HEALTH_TIMEOUT_MS,
      );
      this.cached = Object.fromEntries(entries);
      return { reachable: true, models: this.cached };
    } catch (error) {
      return { reachable: false, error: error instanceof Error ? error.message : String(error), models: {} };
    }
  }

  /** Shared totals over all models, as last seen (at most `refreshMs` old). */
  stats(): AdmissionStats {
    const models = Object.values(this.cached);
    const sum = (f: (m: ModelQueueHealth) => number) => models.reduce((a, m) => a + f(m), 0);
    return {
      running: sum((m) => m.active),
      queued: sum((m) => m.waiting),
      concurrency: sum((m) => m.workers),
      maxQueue: this.options.maxQueue,
    };
  }

  /** Resolves once this node waits for no job. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.drain();
    // BullMQ's close waits for a connection that may never come back (Redis away): bounded.
    const closing = Promise.allSettled([...this.queues.values()].flatMap(({ queue, events }) => [queue.close(), events.close()]));
    await Promise.race([closing, delay(CLOSE_TIMEOUT_MS)]);
    for (const { events$ } of this.queues.values()) events$.disconnect();
    this.subscriber.disconnect();
    this.client.disconnect();
  }

  /** Seconds until a slot is likely free: mean job time × waiting jobs per worker, at least 1. */
  private retryAfterSeconds(health: ModelQueueHealth): number {
    const mean = this.durationsMs.length ? this.durationsMs.reduce((a, b) => a + b, 0) / this.durationsMs.length : 1000;
    return Math.max(1, Math.ceil((mean * (1 + health.waiting / Math.max(1, health.workers))) / 1000));
  }

  private failPending(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
  }

  private lastWarning = 0;
  private warn(where: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < 1000) return;
    this.lastWarning = now;
    this.logger.warn('queue connection problem', { where, error: error instanceof Error ? error.message : String(error) });
  }
}

/** A worker's JSON error keeps its class; anything else (a job stalled too often, …) is a 503. */
function errorFromReason(reason: string): Error {
  try {
    const parsed = JSON.parse(reason) as SerializedError;
    if (parsed && typeof parsed.code === 'string' && typeof parsed.message === 'string') {
      return deserializeError(parsed);
    }
  } catch {
    // not ours
  }
  return new UnavailableError(`The job failed in the queue: ${reason}`);
}

function unreachable(error: unknown): Error {
  if (error instanceof OverloadedError || error instanceof UnavailableError) return error;
  return new UnavailableError(`The job queue (Redis) is unreachable: ${error instanceof Error ? error.message : String(error)}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

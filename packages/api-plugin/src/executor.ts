import { AdmissionQueue, type AdmissionStats } from './admission.js';
import { type Job, type JobResult, type RunOptions, runJob } from './job.js';
import type { ModelRegistry } from './registry.js';

/**
 * Runs jobs with bounded concurrency and a bounded queue. `submit` throws OverloadedError
 * synchronously when the queue is full.
 */
export interface JobExecutor {
  submit(job: Job, options?: RunOptions): Promise<JobResult>;
  stats(): AdmissionStats;
  /** Resolves once every admitted job has finished. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What every executor shares: admission through an AdmissionQueue (bounded concurrency and
 * queue, synchronous OverloadedError, Retry-After timing). Subclasses say how a job runs.
 */
export abstract class QueuedExecutor implements JobExecutor {
  protected readonly queue: AdmissionQueue;

  constructor(concurrency: number, maxQueue: number) {
    this.queue = new AdmissionQueue(concurrency, maxQueue);
  }

  submit(job: Job, options: RunOptions = {}): Promise<JobResult> {
    return this.queue.run(() => this.execute(job, options), options.signal);
  }

  /** Runs one admitted job. */
  protected abstract execute(job: Job, options: RunOptions): Promise<JobResult>;

  stats(): AdmissionStats {
    return this.queue.stats();
  }

  drain(): Promise<void> {
    return this.queue.idle();
  }

  async close(): Promise<void> {
    await this.drain();
  }
}

/**
 * Runs jobs on the calling thread. Meant for tests and small embeddings: tensor work blocks
 * the event loop while it runs (the API app uses a worker pool instead).
 */
export class InProcessExecutor extends QueuedExecutor {
  constructor(
    private readonly registry: ModelRegistry,
    options: { concurrency?: number; maxQueue?: number } = {},
  ) {
    super(options.concurrency ?? 1, options.maxQueue ?? 16);
  }

  protected async execute(job: Job, options: RunOptions): Promise<JobResult> {
    // Yield once so a request that is already cancelled does not start tensor work.
    await new Promise((resolve) => setImmediate(resolve));
    return runJob(this.registry, job, options);
  }
}

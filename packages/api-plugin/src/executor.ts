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
 * Runs jobs on the calling thread. Meant for tests and small embeddings: tensor work blocks
 * the event loop while it runs (the API app uses a worker pool instead).
 */
export class InProcessExecutor implements JobExecutor {
  private readonly queue: AdmissionQueue;

  constructor(
    private readonly registry: ModelRegistry,
    options: { concurrency?: number; maxQueue?: number } = {},
  ) {
    this.queue = new AdmissionQueue(options.concurrency ?? 1, options.maxQueue ?? 16);
  }

  submit(job: Job, options: RunOptions = {}): Promise<JobResult> {
    const admitted = this.queue.enter(options.signal);
    return (async () => {
      await admitted;
      const start = performance.now();
      try {
        // Yield once so a request that is already cancelled does not start tensor work.
        await new Promise((resolve) => setImmediate(resolve));
        return await runJob(this.registry, job, options);
      } finally {
        this.queue.leave(performance.now() - start);
      }
    })();
  }

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

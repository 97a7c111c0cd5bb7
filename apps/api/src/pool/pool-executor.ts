import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import {
  type GenlabPlugin,
  type Job,
  type JobResult,
  type ModelRegistry,
  pluginSources,
  QueuedExecutor,
  type RunOptions,
} from '@lab/api-plugin';
import { CancelledError } from '@lab/core';
import { Piscina } from 'piscina';
import { deserializeError, type ProgressMessage, type WorkerData, type WorkerReply } from './protocol.js';

export interface PoolExecutorOptions {
  /** The plugins the registry was filled by: each worker rebuilds them from their `source` and runs their `register`. */
  readonly plugins: readonly GenlabPlugin[];
  /** Worker threads (each holds its own copy of the models). */
  readonly size: number;
  /** Jobs that may wait when every worker is busy; more → OverloadedError (429). */
  readonly maxQueue: number;
  /** Forced tfjs backend in the workers. */
  readonly backend?: string;
  /** The worker script (default: the compiled `worker.js` next to this file). */
  readonly workerFile?: string | URL;
}

/**
 * Runs jobs in a piscina worker-thread pool so tensor work never blocks the event loop.
 * Admission (concurrency = pool size, bounded queue) happens here, before piscina, so a
 * full queue is refused synchronously; cancellation is cooperative through a shared flag.
 */
export class PoolExecutor extends QueuedExecutor {
  private readonly pool: Piscina;

  constructor(registry: ModelRegistry, options: PoolExecutorOptions) {
    super(options.size, options.maxQueue);
    const data: WorkerData = {
      // Throws before any thread starts when a plugin has no source.
      plugins: pluginSources(options.plugins),
      models: registry.ids().filter((id) => registry.describe(id).status !== 'unavailable'),
      ...(options.backend ? { backend: options.backend } : {}),
      // LibTorch would give every worker all the cores; the workers divide them instead.
      torchThreads: torchThreadsPerWorker(options.size),
    };
    const filename = options.workerFile ?? new URL('./worker.js', import.meta.url);
    this.pool = new Piscina({
      filename: filename instanceof URL ? filename.href : filename,
      minThreads: options.size,
      maxThreads: options.size,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: data,
      execArgv: compiledExecArgv(process.execArgv),
    });
  }

  protected async execute(job: Job, options: RunOptions): Promise<JobResult> {
    const { port1, port2 } = new MessageChannel();
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    const onAbort = () => Atomics.store(flag, 0, 1);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.onProgress) {
      const report = options.onProgress;
      port1.on('message', (message: ProgressMessage) => report(message));
    }
    try {
      if (options.signal?.aborted) throw new CancelledError('Cancelled before it started');
      const reply = (await this.pool.run({ job, port: port2, cancel }, { transferList: [port2] })) as WorkerReply;
      if (!reply.ok) throw deserializeError(reply.error);
      return reply.result;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      port1.close();
    }
  }

  override async close(): Promise<void> {
    await super.close();
    await this.pool.destroy();
  }
}

/**
 * The parent's node flags minus the `@lab/source` export condition (which test runners set to
 * load TypeScript sources): workers always run the compiled JavaScript.
 */
export function compiledExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if ((arg === '--conditions' || arg === '-C') && argv[i + 1] === '@lab/source') {
      i++;
      continue;
    }
    if (arg === '--conditions=@lab/source' || arg === '-C=@lab/source') continue;
    out.push(arg);
  }
  return out;
}

/** Each worker's share of the cores for LibTorch's intra-op threads (at least 1). */
export function torchThreadsPerWorker(workers: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workers)));
}

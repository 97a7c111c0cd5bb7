import type { Worker } from 'node:worker_threads';
import type { BackendName } from '@lab/core';
import type { ModelKind } from '../../tasks/types.js';
import { defaultGradientWorkerFile, startModuleWorker } from './launch.js';
import { type ShardMessage, type ShardResult, transferablesOf, type WorkerReply } from './protocol.js';

export interface GradientWorkerPoolOptions {
  readonly size: number;
  /** The task each worker rebuilds its replica from (`taskFromConfig`). */
  readonly kind: ModelKind;
  readonly config: Record<string, unknown>;
  /** The tfjs backend of the main thread; each worker initialises the same one. */
  readonly backend: BackendName;
  /** The worker script (default: `gradient-worker.js`, or `.ts` from sources). */
  readonly workerFile?: URL | string;
}

/** A gradient worker failed (threw, exited or could not start); the step that needed it fails with this. */
export class GradientWorkerError extends Error {
  override readonly name = 'GradientWorkerError';
}

interface Pending {
  readonly id: number;
  readonly resolve: (result: ShardResult) => void;
  readonly reject: (error: Error) => void;
}

interface WorkerSlot {
  readonly worker: Worker;
  pending?: Pending;
  /** Set once the worker is unusable; every later request rejects with it. */
  failure?: GradientWorkerError;
}

/**
 * Worker threads that each hold a replica of the model and compute the gradients of one shard of a
 * batch (see `dataParallelGradients`). One request per worker at a time. A worker that throws,
 * exits or fails to start rejects its pending request and every later one with a
 * `GradientWorkerError` carrying the reason, so a step never waits on a dead thread.
 */
export class GradientWorkerPool {
  private readonly slots: WorkerSlot[];
  private nextId = 1;
  private disposed = false;

  constructor(options: GradientWorkerPoolOptions) {
    const file = options.workerFile ?? defaultGradientWorkerFile();
    this.slots = Array.from({ length: options.size }, (_, index) => this.startWorker(index, file));
    for (const { worker } of this.slots) {
      worker.postMessage({ type: 'init', kind: options.kind, config: options.config, backend: options.backend });
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Sends a shard to worker `index` (its buffers are transferred: do not reuse them). */
  computeShard(index: number, shard: Omit<ShardMessage, 'type' | 'id'>): Promise<ShardResult> {
    const slot = this.slots[index];
    if (!slot) return Promise.reject(new GradientWorkerError(`no gradient worker ${index + 1} (the pool has ${this.size})`));
    if (this.disposed) return Promise.reject(new GradientWorkerError('the gradient worker pool was disposed'));
    if (slot.failure) return Promise.reject(slot.failure);
    if (slot.pending) return Promise.reject(new GradientWorkerError(`gradient worker ${index + 1} is still busy with a shard`));
    const id = this.nextId++;
    return new Promise<ShardResult>((resolve, reject) => {
      slot.pending = { id, resolve, reject };
      const message: ShardMessage = { type: 'shard', id, ...shard };
      const buffers = transferablesOf([...shard.weights, ...Object.values(shard.inputs)].map((p) => p.data));
      slot.worker.postMessage(message, buffers);
    });
  }

  /** Terminates the workers; pending requests reject. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const slot of this.slots) {
      this.fail(slot, new GradientWorkerError('the gradient worker pool was disposed'));
      slot.worker.terminate().catch(() => {});
    }
  }

  private startWorker(index: number, file: URL | string): WorkerSlot {
    const worker = startModuleWorker(file);
    const slot: WorkerSlot = { worker };
    const name = `gradient worker ${index + 1}`;
    worker.on('message', (reply: WorkerReply) => {
      const pending = slot.pending;
      if (!pending || pending.id !== reply.id) return;
      slot.pending = undefined;
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new GradientWorkerError(`${name} failed: ${reply.error.message}`));
    });
    worker.on('error', (error) => this.fail(slot, new GradientWorkerError(`${name} crashed: ${error.message}`, { cause: error })));
    worker.on('messageerror', (error) => this.fail(slot, new GradientWorkerError(`${name} sent an unreadable message: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.disposed) this.fail(slot, new GradientWorkerError(`${name} exited unexpectedly (exit code ${code})`));
    });
    return slot;
  }

  private fail(slot: WorkerSlot, error: GradientWorkerError): void {
    slot.failure ??= error;
    const pending = slot.pending;
    slot.pending = undefined;
    pending?.reject(slot.failure);
  }
}

import type { Job, JobProgress, JobResult, PluginSource } from '@lab/api-plugin';
import {
  CancelledError,
  GenlabError,
  type GenlabErrorCode,
  NotFoundError,
  OverloadedError,
  UnavailableError,
  ValidationError,
} from '@lab/core';

/** What each worker receives once: the plugins to register, the models to load and the backend to use. */
export interface WorkerData {
  /** The server's plugins, in its order, as sources the worker rebuilds them from. */
  readonly plugins: readonly PluginSource[];
  /** The ids of the models that loaded on the main thread. */
  readonly models: readonly string[];
  readonly backend?: string;
  /** LibTorch intra-op threads for each worker (its share of the cores), unless GENLAB_TORCH_THREADS is set. */
  readonly torchThreads?: number;
}

/** One task sent to a worker. `cancel` is a shared Int32 flag the main thread sets to 1. */
export interface WorkerTask {
  readonly job: Job;
  readonly port: import('node:worker_threads').MessagePort;
  readonly cancel: SharedArrayBuffer;
}

/** Errors cross the thread boundary as data and are rebuilt with their class. */
export interface SerializedError {
  readonly code: GenlabErrorCode | 'internal';
  readonly message: string;
}

export type WorkerReply = { readonly ok: true; readonly result: JobResult } | { readonly ok: false; readonly error: SerializedError };

export type ProgressMessage = JobProgress;

export function serializeError(error: unknown): SerializedError {
  if (error instanceof GenlabError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

export function deserializeError(error: SerializedError): Error {
  switch (error.code) {
    case 'validation':
      return new ValidationError(error.message);
    case 'not_found':
      return new NotFoundError(error.message);
    case 'unavailable':
    case 'checkpoint':
      return new UnavailableError(error.message);
    case 'overloaded':
      return new OverloadedError(error.message);
    case 'cancelled':
      return new CancelledError(error.message);
    default:
      return new Error(`Worker failed: ${error.message}`);
  }
}

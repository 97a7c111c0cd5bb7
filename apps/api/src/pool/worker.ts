/**
 * A sampling worker thread (piscina). It builds its own providers from the specs in
 * `workerData`, initialises a tfjs backend, and runs one job at a time off the main thread.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import { ModelRegistry, type ProviderFactory, runJob } from '@lab/api-plugin';
import { CancelledError, initBackend, parseBackendName, silentLogger } from '@lab/core';
import { serializeError, type WorkerData, type WorkerReply, type WorkerTask } from './protocol.js';

async function setup(data: WorkerData): Promise<ModelRegistry> {
  // A worker's process.env is its own copy: this sets only this thread's share of the cores.
  if (data.torchThreads !== undefined && !process.env.GENLAB_TORCH_THREADS) process.env.GENLAB_TORCH_THREADS = String(data.torchThreads);
  await initBackend({ ...(data.backend ? { force: parseBackendName(data.backend) } : {}), logger: silentLogger });
  const registry = new ModelRegistry();
  for (const { spec } of data.models) {
    const mod = (await import(spec.module)) as Record<string, unknown>;
    const factory = mod[spec.exportName] as ProviderFactory | undefined;
    if (typeof factory !== 'function') throw new Error(`${spec.module} has no export ${spec.exportName}`);
    registry.add(factory(spec.options), { spec });
  }
  await registry.loadAll();
  return registry;
}

const ready = setup(workerData as WorkerData);

export default async function run(task: WorkerTask): Promise<WorkerReply> {
  const port = task.port as MessagePort;
  const flag = new Int32Array(task.cancel);
  const controller = new AbortController();
  // The main thread cannot post into a busy worker's event loop, so it flips a shared flag.
  const poll = () => {
    if (!controller.signal.aborted && Atomics.load(flag, 0) === 1) controller.abort(new CancelledError('Cancelled by the server'));
  };
  const timer = setInterval(poll, 25);
  try {
    const registry = await ready;
    const result = await runJob(registry, task.job, {
      signal: controller.signal,
      onProgress: (progress) => {
        poll();
        port.postMessage(progress);
      },
    });
    return { ok: true, result };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  } finally {
    clearInterval(timer);
    port.close();
  }
}

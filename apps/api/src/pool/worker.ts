/**
 * A sampling worker thread (piscina). It initialises a tfjs backend, rebuilds the server's plugins
 * from their sources in `workerData` and runs their `register` (so whatever a plugin registers
 * exists here too), loads the models the server loaded, and runs one job at a time off the main thread.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import { createPluginContainer, MODEL_REGISTRY, type ModelRegistry, registerPluginSources, runJob } from '@lab/api-plugin';
import { CancelledError, initBackend, parseBackendName, silentLogger } from '@lab/core';
import { serializeError, type WorkerData, type WorkerReply, type WorkerTask } from './protocol.js';

async function setup(data: WorkerData): Promise<ModelRegistry> {
  // A worker's process.env is its own copy: this sets only this thread's share of the cores.
  if (data.torchThreads !== undefined && !process.env.GENLAB_TORCH_THREADS) process.env.GENLAB_TORCH_THREADS = String(data.torchThreads);
  await initBackend({ ...(data.backend ? { force: parseBackendName(data.backend) } : {}), logger: silentLogger });
  // This thread's own container: its registry and whatever the plugins register (services included).
  const container = createPluginContainer();
  const registry = container.resolve(MODEL_REGISTRY);
  await registerPluginSources(data.plugins, { container });
  // Only what loaded on the main thread: jobs never reach the others.
  await Promise.all(data.models.map((id) => registry.load(id)));
  return registry;
}

const ready = setup(workerData as WorkerData);
// A failed setup is reported by every job (below), not as an unhandled rejection that kills the thread.
ready.catch(() => undefined);

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

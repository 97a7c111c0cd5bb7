import type { Server } from 'node:http';
import type { Logger } from '@lab/core';
import type { ApiApp } from './app.js';

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** Graceful stop: refuse new connections, let in-flight jobs finish (up to `graceMs`), then free everything. */
  stop(graceMs?: number): Promise<void>;
}

/** Listens on `port` (0 = any free port) and returns a handle with a draining stop. */
export async function listen(api: ApiApp, port: number, host: string, logger?: Logger): Promise<RunningServer> {
  const server = api.app.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  let stopping: Promise<void> | undefined;
  return {
    server,
    port: actualPort,
    stop(graceMs = 30_000) {
      stopping ??= (async () => {
        logger?.info('shutting down: draining in-flight jobs', { queue: api.genlab.executor.stats() });
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const drained = api.genlab.executor.drain();
        const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
        if ((await Promise.race([drained.then(() => 'drained' as const), timeout])) === 'timeout') {
          logger?.warn('shutdown grace period over; closing remaining connections');
        }
        server.closeAllConnections();
        await closed;
        await api.close();
      })();
      return stopping;
    },
  };
}

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GenlabPlugin, JobExecutor, ModelRegistry } from '@lab/api-plugin';
import { type ApiApp, createApiApp } from '../src/app.js';
import type { QueueSettings } from '../src/queue/settings.js';
import { listen, type RunningServer } from '../src/server.js';

export interface TestServer {
  readonly base: string;
  readonly api: ApiApp;
  readonly running: RunningServer;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  stop(): Promise<void>;
}

export const DEFAULT_TEST_CONFIG = { poolSize: 0, queueSize: 8, timeoutMs: 30_000, bodyLimit: '256kb', previewEvery: 1, backend: 'cpu' };

export async function startServer(
  plugins: GenlabPlugin[],
  config: Partial<typeof DEFAULT_TEST_CONFIG & { token: string; corsOrigins: string[]; queue: QueueSettings }> = {},
  extra: { executor?: (registry: ModelRegistry) => JobExecutor; workerFile?: string; modelsDir?: string } = {},
): Promise<TestServer> {
  const api = await createApiApp({ config: { ...DEFAULT_TEST_CONFIG, ...config }, plugins, ...extra });
  const running = await listen(api, 0, '127.0.0.1');
  const base = `http://127.0.0.1:${running.port}`;
  return {
    base,
    api,
    running,
    post: (path, body, headers = {}) =>
      fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    stop: () => running.stop(5_000),
  };
}

/** The compiled worker (the pool runs plain JavaScript); undefined until `nx run api:build` ran. */
export function compiledWorker(packages: string[] = ['api-plugin', 'core']): string | undefined {
  const file = fileURLToPath(new URL('../dist/pool/worker.js', import.meta.url));
  const deps = packages.map((p) => fileURLToPath(new URL(`../../../packages/${p}/dist/index.js`, import.meta.url)));
  return existsSync(file) && deps.every((d) => existsSync(d)) ? file : undefined;
}

export const FAKE_FIXTURE = new URL('./fixtures/fake-provider.mjs', import.meta.url).href;

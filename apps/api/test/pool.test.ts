import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelRegistry } from '@lab/api-plugin';
import { encodePng } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { PoolExecutor, torchThreadsPerWorker } from '../src/pool/pool-executor.js';
import { fakePlugin } from './fixtures/fake-provider.mjs';
import { percentilePlugin, threadScorePlugin } from './fixtures/service-plugins.mjs';
import { TEST_SIZE, writeTinyModels } from './fixtures/tiny-models.js';
import { compiledWorker, startServer, type TestServer } from './helpers.js';

const worker = compiledWorker();
if (!worker) console.warn('SKIPPED pool tests: build first (npx nx run api:build) — the worker pool runs the compiled dist/pool/worker.js');

describe.skipIf(!worker)('worker pool under load', () => {
  let s: TestServer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    // Each step blocks its worker thread for 40 ms, like real tensor work.
    s = await startServer(
      [fakePlugin([{ id: 'slow', busyMs: 40 }])],
      { poolSize: 1, queueSize: 4, timeoutMs: 20_000 },
      { workerFile: worker as string },
    );
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('20 concurrent requests with a queue of 4: the rest get 429 + Retry-After, /health stays under 100 ms', async () => {
    // Warm the worker (model load, first kernels) so the timing below measures serving only.
    expect((await s.post('/v1/models/slow/samples', { count: 1, steps: 1, seed: 1 })).status).toBe(200);
    const healthMs: number[] = [];
    let done = false;
    const prober = (async () => {
      while (!done) {
        const t0 = performance.now();
        const res = await fetch(`${s.base}/health`);
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        healthMs.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    while (healthMs.length < 3) await new Promise((r) => setTimeout(r, 10));
    // The burst comes from a separate process, so client-side work does not share the server's event loop.
    const burst = await burstFromChild(`${s.base}/v1/models/slow/samples`, 20, (i) => ({ count: 2, steps: 5, seed: i }));
    done = true;
    await prober;
    const ok = burst.filter((r) => r.status === 200).length;
    const rejected = burst.filter((r) => r.status === 429);
    expect(ok + rejected.length).toBe(20);
    expect(ok).toBeGreaterThanOrEqual(5); // 1 running + 4 queued
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.type).toContain('application/problem+json');
    }
    expect(burst.filter((r) => r.status === 200).every((r) => r.type === 'image/png' && r.bytes > 0)).toBe(true);
    expect(healthMs.length).toBeGreaterThan(5);
    const sorted = [...healthMs].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)] as number;
    const max = sorted[sorted.length - 1] as number;
    // Timing needs CPU: on a machine already oversubscribed by other processes (load per core > 1.5)
    // scheduler delays swamp the server's own latency, so there only the median is held to 100 ms.
    const loadPerCore = (loadavg()[0] ?? 0) / Math.max(1, availableParallelism());
    console.log(
      `health: ${healthMs.length} probes, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms, load/core ${loadPerCore.toFixed(2)}`,
    );
    if (loadPerCore <= 1.5) expect(max).toBeLessThan(100);
    else {
      console.warn(`machine oversubscribed (load/core ${loadPerCore.toFixed(2)}): checking the median only`);
      expect(p50).toBeLessThan(100);
    }
    expect((await fetch(`${s.base}/health`)).status).toBe(200);
  });

  it('gives the same PNG bytes for the same seed in a worker as in-process rules say', async () => {
    const a = Buffer.from(await (await s.post('/v1/models/slow/samples', { count: 2, steps: 2, seed: 77 })).arrayBuffer());
    const b = Buffer.from(await (await s.post('/v1/models/slow/samples', { count: 2, steps: 2, seed: 77 })).arrayBuffer());
    expect(a.equals(b)).toBe(true);
  });

  it('cancels a running job when the client disconnects, freeing the worker', async () => {
    const controller = new AbortController();
    const res = await fetch(`${s.base}/v1/models/slow/samples?stream=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1, steps: 200, seed: 3 }),
      signal: controller.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: progress')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    // 200 steps × 40 ms = 8 s if it ran on; cancellation frees the slot within a few steps.
    const t0 = performance.now();
    while (s.api.genlab.executor.stats().running > 0 && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(s.api.genlab.executor.stats().running).toBe(0);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/genlab_jobs_total\{model="slow",op="sample",outcome="cancelled"\} 1/);
  });

  it('times a job out with 503 problem+json', async () => {
    const quick = await startServer(
      [fakePlugin([{ id: 'slow', busyMs: 40 }])],
      { poolSize: 1, queueSize: 1, timeoutMs: 300 },
      { workerFile: worker as string },
    );
    try {
      const res = await quick.post('/v1/models/slow/samples', { count: 1, steps: 100 });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toContain('Timed out after 300 ms');
    } finally {
      await quick.stop();
    }
  });

  it('drains in-flight work on graceful shutdown', async () => {
    const draining = await startServer(
      [fakePlugin([{ id: 'slow', busyMs: 40 }])],
      { poolSize: 1, queueSize: 2 },
      { workerFile: worker as string },
    );
    const inFlight = draining.post('/v1/models/slow/samples', { count: 1, steps: 10, seed: 1 });
    await new Promise((r) => setTimeout(r, 150));
    const stopped = draining.stop();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    await stopped;
    await expect(fetch(`${draining.base}/health`)).rejects.toThrow();
  });
});

const fullWorker = compiledWorker(['api-plugin', 'core', 'samplers', 'embeddings', 'unet', 'energy']);
if (!fullWorker) console.warn('SKIPPED pool test on real models: build first (npx nx run api:build)');

describe.skipIf(!fullWorker)('worker pool on real tiny models', () => {
  it('loads the diffusion, energy and classifier plugins in the worker and serves them', async () => {
    const root = await mkdtemp(join(tmpdir(), 'genlab-api-pool-'));
    await writeTinyModels(root);
    const real = await startServer(defaultPlugins(root), { poolSize: 1, queueSize: 2 }, { workerFile: fullWorker as string });
    try {
      const a = await real.post('/v1/models/ddpm-cifar10/samples', { count: 2, steps: 2, seed: 9 });
      expect(a.status).toBe(200);
      const bytes = Buffer.from(await a.arrayBuffer());
      // The same seed in-process (same code, main thread) gives the same PNG bytes.
      const local = await startServer(defaultPlugins(root));
      try {
        const b = Buffer.from(await (await local.post('/v1/models/ddpm-cifar10/samples', { count: 2, steps: 2, seed: 9 })).arrayBuffer());
        expect(bytes.equals(b)).toBe(true);
      } finally {
        await local.stop();
      }
      expect((await real.post('/v1/models/ebm-cifar10/samples', { count: 1, steps: 2 })).status).toBe(200);
      const image = Buffer.from(encodePng(new Uint8Array(TEST_SIZE * TEST_SIZE * 3).fill(50), TEST_SIZE, TEST_SIZE, 3)).toString('base64');
      const cls = (await (await real.post('/v1/classify', { image })).json()) as { probabilities: unknown[] };
      expect(cls.probabilities).toHaveLength(10);
    } finally {
      await real.stop();
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('torchThreadsPerWorker', () => {
  it('divides the cores among the workers, at least one thread each', () => {
    expect(torchThreadsPerWorker(1, 8)).toBe(8);
    expect(torchThreadsPerWorker(3, 8)).toBe(2);
    expect(torchThreadsPerWorker(2, 2)).toBe(1);
    expect(torchThreadsPerWorker(4, 2)).toBe(1);
  });
});

const torchWorker = compiledWorker(['api-plugin', 'core', 'samplers', 'embeddings', 'unet', 'energy', 'backend-torch']);
const torchAddon = existsSync(fileURLToPath(new URL('../../../packages/backend-torch/build/Release/genlab_torch.node', import.meta.url)));
if (!torchWorker || !torchAddon) console.warn('SKIPPED pool test on LibTorch: needs the build and the @lab/backend-torch addon');

describe.skipIf(!torchWorker || !torchAddon)('worker pool on LibTorch', () => {
  it('two worker threads, each with its own addon state and share of the cores, serve concurrent requests alike', async () => {
    const root = await mkdtemp(join(tmpdir(), 'genlab-api-torch-'));
    await writeTinyModels(root);
    const server = await startServer(
      defaultPlugins(root),
      { poolSize: 2, queueSize: 4, backend: 'torch' },
      { workerFile: torchWorker as string },
    );
    try {
      const body = { count: 2, steps: 3, seed: 5 };
      const replies = await Promise.all([1, 2, 3, 4].map(() => server.post('/v1/models/ddpm-cifar10/samples', body)));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const images = await Promise.all(replies.map(async (r) => Buffer.from(await r.arrayBuffer())));
      // Both workers ran the same seed to the same bytes.
      for (const image of images) expect(image.equals(images[0] as Buffer)).toBe(true);
      expect((await server.post('/v1/models/ebm-cifar10/samples', { count: 1, steps: 2 })).status).toBe(200);
    } finally {
      await server.stop();
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});

interface BurstResult {
  status: number;
  type: string;
  retryAfter: string | null;
  bytes: number;
}

/** Sends `n` concurrent POSTs from a child Node process and returns each status and headers. */
async function burstFromChild(url: string, n: number, body: (i: number) => unknown): Promise<BurstResult[]> {
  const bodies = Array.from({ length: n }, (_, i) => JSON.stringify(body(i)));
  const script = `
    const [url, bodies] = JSON.parse(process.argv[1]);
    const results = await Promise.all(bodies.map(async (b) => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
      const bytes = (await r.arrayBuffer()).byteLength;
      return { status: r.status, type: r.headers.get('content-type') ?? '', retryAfter: r.headers.get('retry-after'), bytes };
    }));
    process.stdout.write(JSON.stringify(results));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([url, bodies])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`burst process exited with ${code}`);
  return JSON.parse(out) as BurstResult[];
}

describe.skipIf(!worker)('plugins in worker threads', () => {
  it("runs every plugin's register in the worker: a model and a container service that exist only there serve the job", async () => {
    const png = Buffer.from(encodePng(new Uint8Array(8 * 8 * 3).fill(9), 8, 8, 3)).toString('base64');
    // Dependency order is the plugins' own, not the list's.
    const served = await startServer(
      [threadScorePlugin(), percentilePlugin(37)],
      { poolSize: 1, queueSize: 2 },
      { workerFile: worker as string },
    );
    try {
      const res = await served.post('/v1/models/where/score', { image: png });
      expect(res.status).toBe(200);
      const score = (await res.json()) as { energy: number; percentile: number };
      // The service the dependency registered (a factory) was resolved from the worker's own container
      // and built in that worker: its threadId (the main thread's is 0).
      expect(score.energy).toBeGreaterThan(0);
      expect(score.percentile).toBe(37);
    } finally {
      await served.stop();
    }
  });

  it('refuses, before any thread starts, a plugin that has no source to rebuild it from', async () => {
    const inline = { name: 'inline', version: '1.0.0', register: () => undefined };
    await expect(
      startServer([inline, fakePlugin([{ id: 'x' }])], { poolSize: 1, queueSize: 1 }, { workerFile: worker as string }),
    ).rejects.toThrow('Plugin "inline" has no source, so worker threads cannot run its register');
    expect(() => new PoolExecutor(new ModelRegistry(), { plugins: [inline], size: 1, maxQueue: 1 })).toThrow(/"inline" has no source/);
  });
});

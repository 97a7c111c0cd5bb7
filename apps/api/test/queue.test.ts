/**
 * The API with the shared queue, against a real redis-server (no mocks): one API (this process)
 * and two worker processes (the compiled `npm run worker` entry) on the tiny test models.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import type { QueueSettings } from '../src/queue/settings.js';
import { writeTinyModels } from './fixtures/tiny-models.js';
import { compiledWorker, startServer, type TestServer } from './helpers.js';
import { REDIS_REQUIRED, redisServerBinary, selfSignedCertificate, startRedis, type TestRedis } from './redis-server.js';

const WORKER_MAIN = fileURLToPath(new URL('../dist/queue/worker-main.js', import.meta.url));
const built = compiledWorker(['api-plugin', 'core', 'samplers', 'embeddings', 'unet', 'energy', 'classifier']) && existsSync(WORKER_MAIN);
const redisBinary = redisServerBinary();
const MODEL = 'ddpm-cifar10';
const SAMPLES = `/v1/models/${MODEL}/samples`;
const PASSWORD = 'p@ss word';

if (!redisBinary) {
  if (REDIS_REQUIRED)
    describe('queue mode', () => it('needs redis-server (GENLAB_REQUIRE_REDIS=1)', () => expect(redisBinary).toBeDefined()));
  else console.warn('SKIPPED queue tests: redis-server is not installed (apt-get install redis-server)');
}
if (!built) console.warn('SKIPPED queue tests: build first (npx nx run api:build) — workers run the compiled dist/queue/worker-main.js');

describe.skipIf(!redisBinary || !built)('queue mode: 1 API + 2 worker processes on redis-server', () => {
  let root: string;
  let redis: TestRedis;
  let settings: QueueSettings;
  let api: TestServer;
  let probe: Redis;
  const workers: Worker[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    root = await mkdtemp(join(tmpdir(), 'genlab-api-queue-'));
    await writeTinyModels(root);
    // A password with a space and an @ checks that the URL carries it through intact.
    redis = await startRedis({ password: PASSWORD });
    settings = { url: redis.url, prefix: 'genlab', resultTtlSeconds: 60, lockMs: 1500, maxStalls: 1 };
    probe = new Redis(redis.url, { maxRetriesPerRequest: null });
    probe.on('error', () => undefined);
    workers.push(startWorker(root, redis.url), startWorker(root, redis.url));
    api = await startServer(defaultPlugins(root), { queueSize: 32, timeoutMs: 60_000, queue: settings });
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.workers === 2, 60_000, 'two workers serving');
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
    for (const w of workers) w.process.kill('SIGKILL');
    probe?.disconnect();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('answers 20 concurrent requests, spread over both workers, with the same bytes for the same seed', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(SAMPLES, { count: 1, steps: 2, seed: i < 2 ? 7 : i })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    const images = await Promise.all(replies.map(async (r) => Buffer.from(await r.arrayBuffer())));
    expect(images.every((b) => b.subarray(1, 4).toString() === 'PNG')).toBe(true);
    expect((images[0] as Buffer).equals(images[1] as Buffer)).toBe(true);
    expect((images[0] as Buffer).equals(images[2] as Buffer)).toBe(false);
    const done = workers.map((w) => (w.log.match(/"job done"/g) ?? []).length);
    expect(done[0]).toBeGreaterThan(0);
    expect(done[1]).toBeGreaterThan(0);
    expect((done[0] ?? 0) + (done[1] ?? 0)).toBe(20);
    expect(await leftovers(probe)).toEqual([]);
  }, 120_000);

  it('reports the queue in /ready and /metrics', async () => {
    const r = await ready(api);
    expect(r.status).toBe(200);
    expect(r.body.sharedQueue).toMatchObject({ reachable: true, models: { [MODEL]: { workers: 2, waiting: 0, active: 0 } } });
    // The broken model loads nowhere: no worker serves it, and a request for it says so.
    expect(r.body.sharedQueue?.models['ddpm-broken']?.workers).toBe(0);
    const metrics = await (await fetch(`${api.base}/metrics`)).text();
    expect(metrics).toContain(`genlab_queue_workers{model="${MODEL}"} 2`);
    expect(metrics).toContain(`genlab_queue_depth{model="${MODEL}",state="waiting"} 0`);
    expect(metrics).toContain('genlab_queue_reachable 1');
  });

  it('answers 429 with Retry-After once the shared queue holds queueSize jobs', async () => {
    const small = await startServer(defaultPlugins(root), { queueSize: 1, timeoutMs: 60_000, queue: settings });
    try {
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => small.post(SAMPLES, { count: 1, steps: 10, seed: i })));
      const statuses = replies.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
      const rejected = replies.filter((r) => r.status === 429);
      expect(rejected.length).toBeGreaterThan(0);
      for (const r of rejected) expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await Promise.all(replies.map((r) => r.arrayBuffer()));
    } finally {
      await small.stop();
    }
  }, 60_000);

  it('cancels a running job when its SSE client disconnects: the worker stops at its next step', async () => {
    const controller = new AbortController();
    const res = await fetch(`${api.base}${SAMPLES}?stream=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 2, steps: 50, seed: 3, previewEvery: 5 }),
      signal: controller.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: progress')) text += new TextDecoder().decode((await reader.read()).value);
    const doneBefore = totalDone(workers);
    controller.abort();
    const t0 = performance.now();
    // 50 steps of 2 images take seconds; a cancelled job frees its worker within a few steps.
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 0, 3_000, 'the worker freed');
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(totalDone(workers)).toBe(doneBefore);
    const metrics = await (await fetch(`${api.base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`genlab_jobs_total\\{model="${MODEL}",op="sample",outcome="cancelled"\\} 1`));
    await until(async () => (await leftovers(probe)).length === 0, 3_000, 'no keys left');
  }, 30_000);

  it('removes a waiting job when its client goes away, and times out with 503', async () => {
    const long = [new AbortController(), new AbortController()];
    const busy = long.map((c, i) => fetchSample(api, { count: 2, steps: 50, seed: 10 + i }, c.signal).catch(() => 'aborted'));
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 2, 10_000, 'both workers busy');
    const waiter = new AbortController();
    const queued = fetchSample(api, { count: 1, steps: 2, seed: 1 }, waiter.signal).catch(() => 'aborted');
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.waiting === 1, 5_000, 'one job waiting');
    waiter.abort();
    expect(await queued).toBe('aborted');
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.waiting === 0, 2_000, 'the waiting job removed');
    for (const c of long) c.abort();
    await Promise.all(busy);
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 0, 5_000, 'both workers freed');

    const quick = await startServer(defaultPlugins(root), { queueSize: 4, timeoutMs: 500, queue: settings });
    try {
      const res = await quick.post(SAMPLES, { count: 2, steps: 50 });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toContain('Timed out after 500 ms');
    } finally {
      await quick.stop();
    }
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 0, 5_000, 'the timed-out job stopped');
    await until(async () => (await leftovers(probe)).length === 0, 3_000, 'no keys left');
  }, 60_000);

  it('a worker killed with SIGKILL mid-job: the other worker takes its job over (stalled detection)', async () => {
    const replies = [0, 1].map((i) => api.post(SAMPLES, { count: 1, steps: 30, seed: 20 + i }));
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 2, 10_000, 'both workers busy');
    const victim = workers[0] as Worker;
    victim.process.kill('SIGKILL');
    const statuses = await Promise.all(replies.map(async (r) => (await r).status));
    expect(statuses).toEqual([200, 200]);
    // The survivor ran both jobs: its own, then the dead worker's.
    expect(workers[1]?.log).toMatch(/"job done"[\s\S]*"job done"/);
    expect(await leftovers(probe)).toEqual([]);
    workers[0] = startWorker(root, redis.url);
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.workers === 2, 60_000, 'a new worker joined');
  }, 120_000);

  it('Redis restarting: /ready and requests answer 503 at once, then everything recovers without restarts', async () => {
    const inFlight = api.post(SAMPLES, { count: 1, steps: 30, seed: 2 });
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 1, 10_000, 'a job running');
    await redis.kill();
    const killedAt = performance.now();
    // The job in flight is lost with Redis (no persistence here): its request fails now, not at its timeout.
    expect((await inFlight).status).toBe(503);
    expect(performance.now() - killedAt).toBeLessThan(1_000);
    await until(async () => (await ready(api)).status === 503, 2_000, '/ready 503');
    const t0 = performance.now();
    const down = await api.post(SAMPLES, { count: 1, steps: 2 });
    expect(down.status).toBe(503);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(((await down.json()) as { detail: string }).detail).toMatch(/queue/i);
    expect(await (await fetch(`${api.base}/metrics`)).text()).toContain('genlab_queue_reachable 0');
    await redis.start();
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.workers === 2, 30_000, 'workers back');
    expect((await ready(api)).status).toBe(200);
    const up = await api.post(SAMPLES, { count: 1, steps: 2, seed: 1 });
    expect(up.status).toBe(200);
    // The worker that ran the lost job finished it after the restart and dropped its result.
    await until(async () => workers.some((w) => w.log.includes('is no longer in the queue')), 10_000, 'the lost job dropped');
    expect(await leftovers(probe)).toEqual([]);
  }, 60_000);

  it('with GENLAB_QUEUE_MAX_STALLS=0, the job of a killed worker fails with a clear 503 instead of running again', async () => {
    for (const w of workers) w.process.kill('SIGKILL');
    workers.splice(0, workers.length, ...[0, 1].map(() => startWorker(root, redis.url, { GENLAB_QUEUE_MAX_STALLS: '0' })));
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.workers === 2, 60_000, 'two strict workers');
    await warmUp(api, workers);
    const replies = [0, 1].map((i) => api.post(SAMPLES, { count: 1, steps: 30, seed: 30 + i }));
    await until(async () => (await ready(api)).body.sharedQueue?.models[MODEL]?.active === 2, 10_000, 'both workers busy');
    (workers[0] as Worker).process.kill('SIGKILL');
    const answers = await Promise.all(replies.map(async (r) => ({ status: (await r).status, body: await (await r).text() })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 503]);
    expect(answers.find((a) => a.status === 503)?.body).toMatch(/stalled/);
    expect(await leftovers(probe)).toEqual([]);
  }, 120_000);
});

interface Worker {
  readonly process: ChildProcess;
  log: string;
}

function startWorker(modelsDir: string, url: string, env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [WORKER_MAIN], {
    env: {
      ...process.env,
      GENLAB_QUEUE_URL: url,
      GENLAB_MODELS_DIR: modelsDir,
      GENLAB_BACKEND: 'cpu',
      GENLAB_POOL_SIZE: '1',
      GENLAB_QUEUE_LOCK_MS: '1500',
      GENLAB_QUEUE_RESULT_TTL_S: '60',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const worker: Worker = { process: child, log: '' };
  const append = (chunk: Buffer) => {
    worker.log += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return worker;
}

/** Sends short jobs until every worker has finished one (threads loaded, polling its queue). */
async function warmUp(s: TestServer, workers: Worker[]): Promise<void> {
  const end = performance.now() + 30_000;
  while (performance.now() < end && !workers.every((w) => w.log.includes('"job done"'))) {
    await Promise.all([0, 1].map(async (i) => (await s.post(SAMPLES, { count: 1, steps: 1, seed: i })).arrayBuffer()));
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(workers.every((w) => w.log.includes('"job done"'))).toBe(true);
}

function totalDone(workers: Worker[]): number {
  return workers.reduce((n, w) => n + (w.log.match(/"job done"/g) ?? []).length, 0);
}

interface ReadyBody {
  status: string;
  sharedQueue?: { reachable: boolean; models: Record<string, { workers: number; waiting: number; active: number }> };
}

async function ready(s: TestServer): Promise<{ status: number; body: ReadyBody }> {
  const res = await fetch(`${s.base}/ready`);
  return { status: res.status, body: (await res.json()) as ReadyBody };
}

async function fetchSample(s: TestServer, body: unknown, signal: AbortSignal): Promise<number> {
  const res = await fetch(`${s.base}${SAMPLES}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Per-job keys still in Redis: results, cancel flags and job hashes (queue bookkeeping aside). */
async function leftovers(redis: Redis): Promise<string[]> {
  const keys = await redis.keys('genlab:*');
  return keys.filter((k) => /^genlab:(result|cancel):/.test(k) || /^genlab:model\.[^:]+:[0-9a-f]{8}-[0-9a-f-]{27}/.test(k)).sort();
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
}

describe.skipIf(!redisBinary || !built)('queue mode over TLS (rediss://)', () => {
  it('serves through a TLS-only redis-server with the CA given, and reports the queue unreachable without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'genlab-api-queue-tls-'));
    const certificate = selfSignedCertificate(dir);
    if (!certificate) {
      console.warn('SKIPPED the TLS queue test: openssl is not installed');
      await rm(dir, { recursive: true, force: true });
      return;
    }
    await writeTinyModels(dir);
    const redis = await startRedis({ tls: certificate });
    const base = { url: redis.url, prefix: 'genlab', resultTtlSeconds: 60, lockMs: 5_000, maxStalls: 1 };
    const worker = startWorker(dir, redis.url, { GENLAB_QUEUE_TLS_CA: certificate.certFile });
    const trusted = await startServer(defaultPlugins(dir), {
      queue: { ...base, tls: { ca: await readFile(certificate.certFile, 'utf8') } },
    });
    const untrusted = await startServer(defaultPlugins(dir), { queue: base });
    try {
      await until(async () => (await ready(trusted)).body.sharedQueue?.models[MODEL]?.workers === 1, 60_000, 'the worker over TLS');
      const res = await trusted.post(SAMPLES, { count: 1, steps: 2, seed: 4 });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      // A self-signed server certificate is refused unless its CA is given.
      const refused = await ready(untrusted);
      expect(refused.status).toBe(503);
      expect(refused.body.sharedQueue?.reachable).toBe(false);
      expect((await untrusted.post(SAMPLES, { count: 1, steps: 2 })).status).toBe(503);
      // And it still shuts down, though its connection never came up.
      const t0 = performance.now();
      await untrusted.stop();
      expect(performance.now() - t0).toBeLessThan(5_000);
    } finally {
      await Promise.all([trusted.stop(), untrusted.stop()]);
      worker.process.kill('SIGKILL');
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(!redisBinary || !built)('queue mode with GENLAB_POOL_SIZE on the API node', () => {
  it('the API node runs its own queue worker of that many threads, and serves with no worker process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'genlab-api-queue-local-'));
    await writeTinyModels(dir);
    const redis = await startRedis();
    const queue = { url: redis.url, prefix: 'genlab', resultTtlSeconds: 60, lockMs: 5_000, maxStalls: 1 };
    const poolWorker = compiledWorker(['api-plugin', 'core', 'samplers', 'embeddings', 'unet', 'energy', 'classifier']) as string;
    const server = await startServer(defaultPlugins(dir), { poolSize: 1, queue }, { workerFile: poolWorker });
    try {
      await until(async () => (await ready(server)).body.sharedQueue?.models[MODEL]?.workers === 1, 30_000, 'the local worker');
      const res = await server.post(SAMPLES, { count: 1, steps: 2, seed: 6 });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
    } finally {
      await server.stop();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

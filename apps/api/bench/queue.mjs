#!/usr/bin/env node
// `BENCH_QUEUE=1 npm run bench:api -w apps/api` (after `npx nx run api:build`): the API in queue
// mode against a redis-server on a free loopback port, with 1 and then 2 worker processes
// (`dist/queue/worker-main.js`) on a tiny untrained 16×16 UNet. Reports sampling throughput for
// each and /health latency under that load, and writes docs/bench/api-queue.md. Each row runs
// BENCH_SECONDS (default 20), BENCH_REPEATS pairs of rows (default 3); the whole run takes about three minutes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveCheckpoint } from '@lab/core';
import { createUNet, resolveUNetConfig } from '@lab/unet';
import '@tensorflow/tfjs-backend-cpu';
import autocannon from 'autocannon';
import { createApiApp } from '../dist/app.js';
import { defaultPlugins } from '../dist/plugins.js';
import { listen } from '../dist/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '../../../docs/bench/api-queue.md');
const WORKER = resolve(here, '../dist/queue/worker-main.js');
const DURATION = Number(process.env.BENCH_SECONDS ?? 20);
const BACKEND = process.env.GENLAB_BACKEND ?? 'wasm';
const SIZE = 16;
const MODEL = 'ddpm-cifar10';
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3); // 1-worker/2-worker row pairs
const HEALTH_RATE = 20; // /health requests per second
const BODY = { count: Number(process.env.BENCH_COUNT ?? 2), steps: Number(process.env.BENCH_STEPS ?? 50), seed: 1 };

async function writeModel(root) {
  const unet = resolveUNetConfig({
    preset: 'tiny',
    imageSize: SIZE,
    baseChannels: 8,
    channelMults: [1, 2],
    attentionResolutions: [],
    midAttention: false,
    groups: 4,
  });
  const manifest = {
    format: 1,
    kind: 'diffusion',
    config: { unet, schedule: { kind: 'linear', timesteps: 100 } },
    step: 0,
    created: new Date().toISOString(),
  };
  await saveCheckpoint(join(root, MODEL), { manifest, models: { model: createUNet(unet) } });
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startRedis(port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolvePromise, reject) => {
    let log = '';
    child.stdout.on('data', (c) => {
      log += c;
      if (log.includes('Ready to accept connections')) resolvePromise();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return child;
}

function startWorker(url, modelsDir) {
  return spawn(process.execPath, [WORKER], {
    env: {
      ...process.env,
      GENLAB_QUEUE_URL: url,
      GENLAB_MODELS_DIR: modelsDir,
      GENLAB_BACKEND: BACKEND,
      GENLAB_POOL_SIZE: '1',
      GENLAB_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

const run = (opts) =>
  new Promise((resolvePromise, reject) => autocannon({ duration: DURATION, ...opts }, (e, r) => (e ? reject(e) : resolvePromise(r))));

async function until(check, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting for the workers');
}

const root = await mkdtemp(join(tmpdir(), 'genlab-bench-queue-'));
await writeModel(root);
const redisPort = await freePort();
const redis = await startRedis(redisPort);
const url = `redis://127.0.0.1:${redisPort}`;
const queue = { url, prefix: 'genlab', resultTtlSeconds: 60, lockMs: 30_000, maxStalls: 1 };
const api = await createApiApp({
  config: { poolSize: 0, queueSize: 64, timeoutMs: 60_000, bodyLimit: '1mb', previewEvery: 10, backend: 'cpu', queue },
  plugins: defaultPlugins(root),
});
const server = await listen(api, 0, '127.0.0.1');
const base = `http://127.0.0.1:${server.port}`;
const json = { 'content-type': 'application/json' };
const workers = [];
const rows = [];
const load0 = loadavg()[0];
try {
  // 1, 2, 1, 2, …: this shared machine's speed drifts by tens of percent within a minute, so each
  // 2-worker row is compared with the 1-worker row just before it and the median ratio is reported.
  for (const n of Array.from({ length: 2 * REPEATS }, (_, i) => 1 + (i % 2))) {
    while (workers.length < n) workers.push(startWorker(url, root));
    while (workers.length > n) workers.pop().kill('SIGTERM');
    await until(async () => (await (await fetch(`${base}/ready`)).json()).sharedQueue?.models?.[MODEL]?.workers === n, 60_000);
    // Warm every worker: model loads and first kernels.
    await Promise.all(
      Array.from({ length: 2 * n }, () =>
        fetch(`${base}/v1/models/${MODEL}/samples`, { method: 'POST', headers: json, body: JSON.stringify(BODY) }),
      ),
    );
    const [samples, health] = await Promise.all([
      run({ url: `${base}/v1/models/${MODEL}/samples`, method: 'POST', headers: json, body: JSON.stringify(BODY), connections: 4 * n }),
      // A load balancer's probe rate, not a flood: a flood would take a core from the workers.
      run({ url: `${base}/health`, connections: 2, overallRate: HEALTH_RATE }),
    ]);
    rows.push({ n, samples, health });
    process.stdout.write(`${n} worker(s): ${samples.requests.average.toFixed(2)} req/s, /health p99 ${health.latency.p99} ms\n`);
  }
  const ratios = rows.flatMap((r, i) => (r.n === 2 ? [r.samples.requests.average / rows[i - 1].samples.requests.average] : []));
  const ratio = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
  const line = (r) =>
    `| ${r.n} | ${r.n * 4} | ${r.samples.requests.total} | ${r.samples.requests.average.toFixed(2)} | ${r.samples.latency.p50} | ${r.samples.latency.p99} | ${r.samples['2xx']} | ${r.samples.non2xx ?? 0} | ${r.health.latency.p50} | ${r.health.latency.p99} | ${r.health.latency.max} |`;
  const text = `# API benchmark: queue mode

Measured by \`BENCH_QUEUE=1 npm run bench:api -w apps/api\` (after \`npx nx run api:build\`) on ${new Date().toISOString().slice(0, 10)}:
${cpus().length} logical CPUs (${availableParallelism()} available), load average ${load0.toFixed(2)} at the start and ${loadavg()[0].toFixed(2)} at the end
(the bench's own processes count: 1.0 is one busy core), Node ${process.version}, redis-server on loopback, one API node
(samples nothing; it shares its process with the load generator), worker processes with one ${BACKEND} thread each,
${DURATION} s per row. Each request samples ${BODY.count} images × ${BODY.steps} DDIM steps (the API's default step count; \`BENCH_COUNT\`, \`BENCH_STEPS\` change the job) of a tiny
untrained 16×16 UNet; /health is probed meanwhile at ${HEALTH_RATE} requests/s over 2 connections, as a load balancer would.

| workers | sample connections | requests | req/s | p50 ms | p99 ms | 2xx | non-2xx | /health p50 ms | /health p99 ms | /health max ms |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.map(line).join('\n')}

Throughput with 2 workers against 1 (each 2-worker row against the 1-worker row before it): ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}; median **${ratio.toFixed(2)}×**.
`;
  await writeFile(out, text);
  spawnSync('npx', ['biome', 'format', '--write', out], { stdio: 'ignore' });
  process.stdout.write(text);
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await server.stop(10_000);
  redis.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
}

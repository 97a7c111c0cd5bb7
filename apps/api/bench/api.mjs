#!/usr/bin/env node
// `npm run bench:api -w apps/api` (after `npx nx run api:build`): starts the API on a free
// loopback port with tiny untrained models (16×16 UNet, energy net, classifier) in a worker
// pool, drives it with autocannon, and writes throughput and latency to docs/bench/api.md.
// Traffic goes to 127.0.0.1 only; every run is bounded in time.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClassifier } from '@lab/classifier';
import { classifierPlugin } from '@lab/classifier/plugin';
import { encodePng, saveCheckpoint } from '@lab/core';
import { createEnergyNet, resolveEnergyNetConfig } from '@lab/energy';
import { energyPlugin } from '@lab/energy/plugin';
import { createUNet, resolveUNetConfig } from '@lab/unet';
import { diffusionPlugin } from '@lab/unet/plugin';
import '@tensorflow/tfjs-backend-cpu';
import autocannon from 'autocannon';
import { createApiApp } from '../dist/app.js';
import { listen } from '../dist/server.js';

if (process.env.BENCH_QUEUE === '1') {
  // Queue mode: the API with 1, then 2 worker processes behind a redis-server (see queue.mjs).
  await import('./queue.mjs');
  process.exit(0);
}

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '../../../docs/bench/api.md');
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const POOL = Number(process.env.GENLAB_POOL_SIZE ?? 1);
const SIZE = 16;

const manifest = (kind, config) => ({ format: 1, kind, config, step: 0, created: new Date().toISOString() });

async function writeModels(root) {
  const unet = resolveUNetConfig({
    preset: 'tiny',
    imageSize: SIZE,
    baseChannels: 8,
    channelMults: [1, 2],
    attentionResolutions: [],
    midAttention: false,
    groups: 4,
  });
  const u = createUNet(unet);
  await saveCheckpoint(join(root, 'ddpm'), {
    manifest: manifest('diffusion', { unet, schedule: { kind: 'linear', timesteps: 100 } }),
    models: { model: u },
  });
  const net = resolveEnergyNetConfig({ ...resolveEnergyNetConfig('small'), inputShape: [SIZE, SIZE, 3] });
  await saveCheckpoint(join(root, 'ebm'), {
    manifest: manifest('energy', { net }),
    models: { model: createEnergyNet(net) },
    json: { trainingEnergies: [0, 1, 2] },
  });
  const cls = createClassifier({
    inputShape: [SIZE, SIZE, 3],
    numClasses: 10,
    channels: [8, 16],
    featureUnits: 16,
    dropout: 0,
    output: 'softmax',
  });
  await saveCheckpoint(join(root, 'cls'), { manifest: manifest('classifier', {}), models: { model: cls } });
}

function run(opts) {
  return new Promise((resolvePromise, reject) => {
    autocannon({ duration: DURATION, ...opts }, (error, result) => (error ? reject(error) : resolvePromise(result)));
  });
}

function row(name, r, note = '') {
  const non2xx = r.non2xx ?? 0;
  return `| ${name} | ${r.connections} | ${r.requests.total} | ${r.requests.average.toFixed(1)} | ${r.latency.p50} | ${r.latency.p97_5} | ${r.latency.p99} | ${r.latency.max} | ${r['2xx']} | ${non2xx} | ${note} |`;
}

const root = await mkdtemp(join(tmpdir(), 'genlab-bench-'));
await writeModels(root);
const api = await createApiApp({
  config: {
    poolSize: POOL,
    queueSize: 8,
    timeoutMs: 60_000,
    bodyLimit: '1mb',
    previewEvery: 10,
    backend: process.env.GENLAB_BACKEND ?? 'cpu',
  },
  plugins: [
    diffusionPlugin({ id: 'ddpm', dir: join(root, 'ddpm') }),
    energyPlugin({ id: 'ebm', dir: join(root, 'ebm') }),
    classifierPlugin({ id: 'cls', dir: join(root, 'cls') }),
  ],
});
const server = await listen(api, 0, '127.0.0.1');
const url = `http://127.0.0.1:${server.port}`;
const json = { 'content-type': 'application/json' };
const image = Buffer.from(encodePng(new Uint8Array(SIZE * SIZE * 3).fill(90), SIZE, SIZE, 3)).toString('base64');
try {
  // Warm the worker(s): first kernels and model loads.
  for (let i = 0; i < POOL * 2; i++)
    await fetch(`${url}/v1/models/ddpm/samples`, { method: 'POST', headers: json, body: JSON.stringify({ count: 1, steps: 1 }) });
  const load0 = loadavg()[0];
  const rows = [];
  rows.push(row('GET /health', await run({ url: `${url}/health`, connections: 10 })));
  rows.push(row('GET /v1/models', await run({ url: `${url}/v1/models`, connections: 10 })));
  const sampleBody = JSON.stringify({ count: 1, steps: 4, seed: 1 });
  rows.push(
    row(
      'POST samples (DDIM 4 steps, 1 image)',
      await run({ url: `${url}/v1/models/ddpm/samples`, method: 'POST', headers: json, body: sampleBody, connections: 4 }),
      'queue 8',
    ),
  );
  rows.push(
    row(
      'POST samples (Langevin 4 steps, 1 image)',
      await run({ url: `${url}/v1/models/ebm/samples`, method: 'POST', headers: json, body: sampleBody, connections: 4 }),
    ),
  );
  rows.push(
    row(
      'POST /v1/classify',
      await run({ url: `${url}/v1/classify`, method: 'POST', headers: json, body: JSON.stringify({ image }), connections: 4 }),
    ),
  );
  // Liveness under sampling load: /health while 16 connections keep the queue full (429s expected).
  const [health, overload] = await Promise.all([
    run({ url: `${url}/health`, connections: 2 }),
    run({ url: `${url}/v1/models/ddpm/samples`, method: 'POST', headers: json, body: sampleBody, connections: 16 }),
  ]);
  rows.push(row('GET /health during overload', health));
  rows.push(row('POST samples, 16 connections', overload, 'non-2xx = 429 (queue full)'));
  const text = `# API benchmark

Measured by \`npm run bench:api -w apps/api\` (after \`npx nx run api:build\`) on ${new Date().toISOString().slice(0, 10)}:
${cpus().length} logical CPUs (${availableParallelism()} available), load average ${load0.toFixed(2)} at the start (other processes were running),
Node ${process.version}, tfjs backend ${process.env.GENLAB_BACKEND ?? 'cpu'}, worker pool of ${POOL}, queue 8, ${DURATION} s per row, loopback only.
Models are tiny and untrained (16×16 UNet with 8 base channels, the \`small\` energy net, a 2-layer classifier), so the
sampling rows measure the serving path (queue, worker hand-off, PNG encoding) more than the models.

| scenario | connections | requests | req/s | p50 ms | p97.5 ms | p99 ms | max ms | 2xx | non-2xx | note |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
  await writeFile(out, text);
  // Align the table the way the repository's formatter (biome) wants it.
  spawnSync('npx', ['biome', 'format', '--write', out], { stdio: 'ignore' });
  process.stdout.write(text);
} finally {
  await server.stop(10_000);
  await rm(root, { recursive: true, force: true });
}

/**
 * Training-loop memory check in its own process: runs `--steps` training steps of one model
 * (stopping early at `--budget-ms`) and records tfjs's tensor count and bytes after every step
 * and the RSS. After step 1 (which creates Adam's slots) nothing may grow. On the torch backend
 * the addon's live LibTorch tensors (`loadNative().liveTensors()`) are counted too and may not
 * grow either: a kernel that leaks an intermediate ATen tensor shows there and not in tfjs's
 * count. Writes a `MemoryCheckResult` to `--out` (its `growthSteps` lists any step that grew).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type BackendName, initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { MemoryCheckResult } from './report.js';
import { type BenchModelName, createWorkload } from './workloads.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    model: { type: 'string', default: 'unet-tiny' },
    batch: { type: 'string', default: '2' },
    steps: { type: 'string', default: '1000' },
    'budget-ms': { type: 'string', default: '60000' },
    out: { type: 'string' },
  },
});

const mib = (bytes: number) => bytes / (1024 * 1024);

async function main(): Promise<void> {
  if (!values.out) throw new Error('--out is required');
  const info = await initBackend({ force: values.backend as BackendName });
  // The torch backend's native tensor table (the same addon instance the backend uses).
  const native = info.tfBackend === 'torch' ? (await import('@lab/backend-torch')).loadNative() : undefined;
  const liveTensors = native ? () => native.liveTensors() : undefined;
  const beforeModel = liveTensors?.();
  const batch = Number(values.batch);
  const maxSteps = Number(values.steps);
  const budgetMs = Number(values['budget-ms']);
  const workload = createWorkload(values.model as BenchModelName, { trainBatch: batch, inferBatch: batch });
  const started = performance.now();

  await workload.train();
  const first = tf.memory();
  const firstLive = liveTensors?.();
  let lastLive = firstLive;
  const firstRss = process.memoryUsage().rss;
  const growthSteps: number[] = [];
  let steps = 1;
  let last = first;
  let rssAtTen = firstRss;
  while (steps < maxSteps && performance.now() - started < budgetMs) {
    const loss = await workload.train();
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss at step ${steps + 1}`);
    steps += 1;
    last = tf.memory();
    lastLive = liveTensors?.();
    if (steps <= 10) rssAtTen = process.memoryUsage().rss;
    if (last.numTensors !== first.numTensors || last.numBytes !== first.numBytes || lastLive !== firstLive) growthSteps.push(steps);
  }
  const result: MemoryCheckResult = {
    backend: info.tfBackend,
    model: values.model as string,
    batch,
    steps,
    seconds: (performance.now() - started) / 1000,
    tensors: [first.numTensors, last.numTensors],
    bytes: [first.numBytes, last.numBytes],
    rssMiB: [mib(firstRss), mib(rssAtTen), mib(process.memoryUsage().rss)],
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    growthSteps,
  };
  workload.dispose();
  if (liveTensors && beforeModel !== undefined && firstLive !== undefined && lastLive !== undefined)
    result.liveTensors = { beforeModel, afterFirst: firstLive, afterLast: lastLive, afterDispose: liveTensors() };
  writeFileSync(values.out, JSON.stringify(result, null, 2));
}

await main();

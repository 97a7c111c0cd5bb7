/**
 * Times the bench's training and inference steps of one model (bench/lib/workloads.ts) on the
 * torch backend, for a GPU machine (scripts/device/run-cuda.sh compares the result with
 * bench/torch/bench_torch.py --device cuda on the same GPU). Writes JSON to the last argument.
 *
 *   node dist/cuda-step.mjs unet-small 128 out.json
 *
 * GENLAB_JS_DROPOUT=1 unregisters the torch backend's dropout-mask kernel first, so that the
 * masks are drawn in JavaScript as tfjs does (the before of docs/gpu.md's dropout figures).
 */
import { writeFileSync } from 'node:fs';
import * as torch from '@lab/backend-torch';
import { DROPOUT_MASK_KERNEL, initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { timeSteps } from '../../bench/lib/measure.js';
import { type BenchModelName, createWorkload } from '../../bench/lib/workloads.js';
import { bundledTorchLoader as loader } from './torch-loader.js';

const [model, batchText, out] = process.argv.slice(2);
if (!model || !batchText || !out) throw new Error('usage: cuda-step.mjs <bench model> <batch> <out.json>');
const batch = Number(batchText);
const backend = await initBackend({ force: 'torch', loader });
const jsDropout = process.env.GENLAB_JS_DROPOUT === '1';
if (jsDropout) tf.unregisterKernel(DROPOUT_MASK_KERNEL, 'torch');
const workload = createWorkload(model as BenchModelName, { trainBatch: batch, inferBatch: batch });
const timing = { warmup: 2, minSteps: 3, maxSteps: 10, budgetMs: 15_000 };
const infer = await timeSteps(() => workload.infer(), batch, timing);
const losses: number[] = [];
const train = await timeSteps(async () => losses.push(await workload.train()), batch, timing);
const result = {
  backend: backend.detail,
  dropoutMasks: jsDropout ? 'javascript' : 'backend',
  model,
  spec: workload.spec,
  infer: infer.timing,
  train: train.timing,
  losses,
  tensorsAfterTraining: tf.memory().numTensors,
  liveLibTorchTensors: torch.loadNative().liveTensors(),
};
workload.dispose();
writeFileSync(out, JSON.stringify(result, null, 2));
process.stderr.write(
  `${model} batch ${batch}: train ${train.timing.medianMs.toFixed(1)} ms, infer ${infer.timing.medianMs.toFixed(1)} ms\n`,
);

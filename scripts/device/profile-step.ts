/**
 * Profiles one training step of the UNet `small` and the classifier `small` on the GPU through
 * WebGPU: milliseconds per step (single process) and the kernels that take the time.
 * Bundled with esbuild and run with a carried Node (see docs/gpu.md).
 */

import { createClassifier } from '@lab/classifier';
import { createLogger, initBackend, type ModuleLoader } from '@lab/core';
import { createUNet } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

const loader: ModuleLoader = async (specifier) => {
  if (specifier === 'webgpu') return import('webgpu');
  if (specifier === '@tensorflow/tfjs-backend-webgpu') return import('@tensorflow/tfjs-backend-webgpu');
  if (specifier === '@tensorflow/tfjs-backend-wasm') return import('@tensorflow/tfjs-backend-wasm');
  throw Object.assign(new Error(`${specifier} not carried`), { code: 'ERR_MODULE_NOT_FOUND' });
};
await initBackend({ loader, logger: createLogger({ pretty: true }) });
const batch = Number(process.env.BATCH ?? 128);

function lossOf(model: tfl.LayersModel, inputs: tf.Tensor[], target: tf.Tensor): () => tf.Scalar {
  return () => tf.mean(tf.square(tf.sub(model.apply(inputs, { training: true }) as tf.Tensor, target))) as tf.Scalar;
}

async function profile(name: string, model: tfl.LayersModel, inputs: tf.Tensor[], target: tf.Tensor) {
  const optimizer = tf.train.adam(1e-4);
  const step = () => {
    const cost = optimizer.minimize(lossOf(model, inputs, target), true);
    return cost!;
  };
  const n = Number(process.env.N ?? 10);
  for (let i = 0; i < Math.min(3, n); i++) {
    const c = step();
    await c.data();
    c.dispose();
  }
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const c = step();
    if (i === n - 1) await c.data();
    c.dispose();
  }
  const pipelined = (performance.now() - t0) / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const c = step();
    await c.data();
    c.dispose();
  }
  const synced = (performance.now() - t0) / n;
  const info = await tf.profile(async () => {
    const c = step();
    await c.data();
    c.dispose();
  });
  const byKernel = new Map<string, { ms: number; count: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, count: 0 };
    e.ms += ms;
    e.count += 1;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(
    `\n## ${name}, batch ${batch}: ${pipelined.toFixed(1)} ms/step pipelined, ${synced.toFixed(1)} ms/step with a read-back each step (${((batch * 1000) / synced).toFixed(0)} img/s); ${info.kernels.length} kernels, ${total.toFixed(1)} ms kernel time`,
  );
  console.log('| kernel | calls | ms |\n| --- | ---: | ---: |');
  for (const [k, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15))
    console.log(`| ${k} | ${e.count} | ${e.ms.toFixed(2)} |`);
}

const x = tf.randomNormal([batch, 32, 32, 3]);
const unet = createUNet({ preset: (process.env.UNET ?? 'small') as 'small', numClasses: 10 });
await profile(
  'UNet small (+10 classes)',
  unet,
  [x, tf.randomUniform([batch], 0, 999), tf.cast(tf.randomUniform([batch], 0, 10), 'int32')],
  tf.randomNormal([batch, 32, 32, 3]),
);
const classifier = createClassifier('small');
await profile(
  'classifier small (MSE on probabilities, timing only)',
  classifier,
  [x],
  tf.oneHot(tf.cast(tf.randomUniform([batch], 0, 10), 'int32'), 10),
);

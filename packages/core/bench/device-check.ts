/**
 * The WebGPU check for a machine with a GPU (bundled with esbuild, run with a carried Node):
 * 1. initBackend's real choice there (expects webgpu on a hardware adapter);
 * 2. conv gradients (filter and input) on webgpu vs cpu for every test case, and all
 *    gradients of the UNet-like graph;
 * 3. the conv2d throughput table for webgpu (and cpu for scale).
 * Not part of the test suite: CI has no GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createLogger, type ModuleLoader, registerTrainingKernels, selectBackend } from '../src/index.js';
import { CASES, type ConvCase, dyShape, size } from '../test/helpers/conv-cases.js';
import { onBackend, relativeError, seededValues } from '../test/helpers/numeric.js';
import { unetLikeGradients } from '../test/helpers/unet-like-graph.js';
import { runConvBench } from './conv2d-bench.js';

// Literal specifiers, so the bundler includes the tfjs webgpu backend (one tfjs-core);
// `webgpu` (Dawn, native) stays external and is carried beside the bundle.
const loader: ModuleLoader = async (specifier) => {
  if (specifier === 'webgpu') return import('webgpu');
  if (specifier === '@tensorflow/tfjs-backend-webgpu') return import('@tensorflow/tfjs-backend-webgpu');
  throw Object.assign(new Error(`${specifier} not carried`), { code: 'ERR_MODULE_NOT_FOUND' });
};

async function grads(c: ConvCase, x: Float32Array, w: Float32Array, dy: Float32Array): Promise<[Float32Array, Float32Array]> {
  const [dx, dw] = tf.tidy(() => {
    const dyt = tf.tensor4d(dy, dyShape(c));
    return tf.grads((xt: tf.Tensor, wt: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.strides, c.pad), dyt)),
    )([tf.tensor4d(x, c.x), tf.tensor4d(w, c.filter)]);
  }) as [tf.Tensor, tf.Tensor];
  const out: [Float32Array, Float32Array] = [(await dx.data()) as Float32Array, (await dw.data()) as Float32Array];
  tf.dispose([dx, dw]);
  return out;
}

const logger = createLogger({ pretty: true });
const info = await selectBackend({ loader, logger, env: process.env });
console.log(`chosen: ${JSON.stringify(info)}`);
registerTrainingKernels('cpu');
const gpu = tf.getBackend();
let worst = 0;
for (const [i, c] of CASES.entries()) {
  const x = seededValues(size(c.x), 1 + i);
  const w = seededValues(size(c.filter), 50 + i);
  const dy = seededValues(size(dyShape(c)), 99 + i);
  const [gdx, gdw] = await onBackend(gpu, () => grads(c, x, w, dy));
  const [cdx, cdw] = await onBackend('cpu', () => grads(c, x, w, dy));
  const ex = relativeError(gdx, cdx);
  const ew = relativeError(gdw, cdw);
  worst = Math.max(worst, ex, ew);
  console.log(`${gpu} vs cpu, ${c.name}: dx ${ex.toExponential(2)}, dW ${ew.toExponential(2)}`);
}
const onGpu = await onBackend(gpu, unetLikeGradients);
const onCpu = await onBackend('cpu', unetLikeGradients);
for (const name of Object.keys(onCpu)) {
  const e = relativeError(onGpu[name]!, onCpu[name]!);
  worst = Math.max(worst, e);
  console.log(`${gpu} vs cpu, UNet-like graph, d/d${name}: ${e.toExponential(2)}`);
}
console.log(`worst relative error ${worst.toExponential(2)} (${worst < 1e-4 ? 'PASS' : 'FAIL'} at 1e-4)`);
await runConvBench({ backends: [gpu === 'webgpu' ? 'webgpu' : gpu], loader, target: process.env.BENCH_OUT ?? 'core-conv2d-webgpu.md' });

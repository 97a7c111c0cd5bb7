/// <reference lib="dom" />
/**
 * Runs in Chromium (bundled by core's test/helpers/chromium-webgpu.ts): genlab's UNet on tfjs's
 * WebGPU backend with genlab's training kernels, driven from Node through `window.genlab`.
 */
import { registerTrainingKernels } from '@lab/core';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import type { UNetConfigInput } from '../src/config.js';
import { createUNet } from '../src/unet.js';

export interface UNetGradientInputs {
  config: UNetConfigInput;
  /** The model's weights, in `model.getWeights()` order. */
  weights: number[][];
  x: number[];
  xShape: [number, number, number, number];
  t: number[];
  y?: number[];
  /** The loss is Σ model(x, t, y) · R. */
  r: number[];
}

export type UNetWebgpuPage = {
  init(): Promise<{ backend: string; kernels: readonly string[] }>;
  gradients(inputs: UNetGradientInputs): Promise<{ loss: number; grads: number[][]; numTensorsBefore: number; numTensorsAfter: number }>;
};

const page: UNetWebgpuPage = {
  async init() {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    return { backend: tf.getBackend(), kernels: registerTrainingKernels('webgpu').kernels };
  },
  async gradients(inputs) {
    const model = createUNet(inputs.config);
    const weights = model.getWeights().map((w, i) => tf.tensor(inputs.weights[i] as number[], w.shape));
    model.setWeights(weights); // copies them into the model's variables
    tf.dispose(weights);
    const numTensorsBefore = tf.memory().numTensors;
    const x = tf.tensor4d(inputs.x, inputs.xShape);
    const t = tf.tensor1d(inputs.t);
    const y = inputs.y ? tf.tensor1d(inputs.y, 'int32') : undefined;
    const r = tf.tensor4d(inputs.r, inputs.xShape);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(model.apply(y ? [x, t, y] : [x, t]) as tf.Tensor, r)) as tf.Scalar,
      variables,
    );
    // WebGPU cannot read synchronously: data(), never dataSync().
    const loss = (await value.data())[0] as number;
    const out = await Promise.all(variables.map(async (v) => Array.from(await (grads[v.name] as tf.Tensor).data())));
    tf.dispose([x, t, r, value, ...Object.values(grads), ...(y ? [y] : [])]);
    const numTensorsAfter = tf.memory().numTensors;
    model.dispose();
    return { loss, grads: out, numTensorsBefore, numTensorsAfter };
  },
};

(window as unknown as { genlab: UNetWebgpuPage }).genlab = page;

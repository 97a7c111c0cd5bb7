/// <reference lib="dom" />
/**
 * Runs in Chromium (bundled by ../chromium-webgpu.ts): tfjs on its WebGPU backend with genlab's
 * training kernels registered, driven from Node through `window.genlab`.
 */
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingKernels } from '../../../src/backend/kernels/register.js';
import type { ConvCase } from '../conv-cases.js';

// A type alias, not an interface: it must be assignable to a string-indexed record of functions.
export type WebgpuPage = {
  /** Selects the webgpu backend and registers genlab's kernels; reports the adapter and the kernels. */
  init(): Promise<{ backend: string; adapter: string; kernels: readonly string[] }>;
  /** The filter gradient of conv2d(x, w) · dy through autodiff (so through the registered kernel). */
  filterGradient(c: ConvCase, dyShape: number[], x: number[], dy: number[]): Promise<number[]>;
  /** tf.addN over `inputs`, each of `shape`. */
  addN(shape: number[], inputs: number[][]): Promise<number[]>;
  numTensors(): number;
};

const page: WebgpuPage = {
  async init() {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    await tf.ready();
    const adapter = await navigator.gpu.requestAdapter();
    const info = adapter?.info;
    return {
      backend: tf.getBackend(),
      adapter: info ? `${info.vendor} ${info.architecture}`.trim() : 'unknown',
      kernels: registerTrainingKernels('webgpu').kernels,
    };
  },
  async filterGradient(c, dyShape, x, dy) {
    const result = tf.tidy(() => {
      const xt = tf.tensor4d(x, c.x);
      const dyt = tf.tensor4d(dy, dyShape as [number, number, number, number]);
      const grad = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, w as tf.Tensor4D, c.strides, c.pad), dyt)));
      return grad(tf.zeros(c.filter) as tf.Tensor4D);
    });
    // WebGPU cannot read synchronously: data(), never dataSync().
    const values = Array.from(await result.data());
    result.dispose();
    return values;
  },
  async addN(shape, inputs) {
    const result = tf.tidy(() => tf.addN(inputs.map((values) => tf.tensor(values, shape))));
    const values = Array.from(await result.data());
    result.dispose();
    return values;
  },
  numTensors: () => tf.memory().numTensors,
};

(window as unknown as { genlab: WebgpuPage }).genlab = page;

import '@tensorflow/tfjs-backend-cpu';
// Registers tfjs's own gradients, as every genlab model import does.
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SILU_GRAD_KERNEL, SILU_KERNEL } from '../../src/backend/fused-kernels.js';
import { registerSecondOrderGradients } from '../../src/backend/kernels/second-order-gradients.js';
import { silu } from '../../src/backend/silu.js';
import { relativeL2Error, seededValues } from '../helpers/numeric.js';

type Activation = (h: tf.Tensor) => tf.Tensor;

const ACTIVATIONS: Record<string, Activation> = {
  exp: (h) => tf.exp(tf.mul(h, 0.5)),
  sigmoid: (h) => tf.sigmoid(h),
  tanh: (h) => tf.tanh(h),
  // SiLU as tfjs-layers' 'swish' activation builds it: x·sigmoid(x).
  silu: (h) => tf.mul(h, tf.sigmoid(h)),
  // Attention's softmax (over the channels here), squared so that the energy is not constant.
  softmax: (h) => tf.square(tf.softmax(h)),
  // Its gradient was already right (saved input): a control that passes before and after.
  softplus: (h) => tf.softplus(h),
};

/** SiLU after 2×2 average pooling (stride 2, as energy nets downsample): needs AvgPoolGrad's gradient. */
const pooledSilu: Activation = (h) => {
  const pooled = tf.avgPool(h as tf.Tensor4D, 2, 2, 'valid');
  return tf.mul(pooled, tf.sigmoid(pooled));
};

const X_SHAPE: [number, number, number, number] = [2, 5, 5, 2]; // batch ≥ 2 (tfjs bugs hide at batch 1)
const W_SHAPE: [number, number, number, number] = [3, 3, 2, 3];
const x = seededValues(
  X_SHAPE.reduce((a, b) => a * b),
  3,
);
const target = seededValues(x.length, 4);
const w0 = seededValues(
  W_SHAPE.reduce((a, b) => a * b),
  5,
).map((v) => 0.5 * v);

/** ‖∂E/∂x − target‖² for E(x; w) = Σ f(conv(x, w)): the shape of a score-matching loss. */
function scoreLoss(f: Activation, w: tf.Tensor4D): tf.Scalar {
  const input = tf.tensor4d(x, X_SHAPE);
  const energy = (xs: tf.Tensor) => tf.sum(f(tf.conv2d(xs as tf.Tensor4D, w, 1, 'same')));
  const score = tf.grad(energy)(input);
  return tf.sum(tf.square(tf.sub(score, tf.tensor4d(target, X_SHAPE))));
}

/** ∂loss/∂w by autograd (a gradient of a gradient). */
function autogradOfScoreLoss(f: Activation): Float32Array {
  return tf.tidy(
    () =>
      tf
        .grad((w: tf.Tensor) => scoreLoss(f, w as tf.Tensor4D))(tf.tensor4d(w0, W_SHAPE))
        .dataSync() as Float32Array,
  );
}

/** ∂loss/∂w by central differences, evaluated through first-order gradients only. */
function finiteDifferences(f: Activation, h = 1e-2): Float64Array {
  const out = new Float64Array(w0.length);
  const lossAt = (w: Float32Array) => tf.tidy(() => scoreLoss(f, tf.tensor4d(w, W_SHAPE)).dataSync()[0] as number);
  for (let i = 0; i < w0.length; i++) {
    const plus = Float32Array.from(w0);
    const minus = Float32Array.from(w0);
    plus[i] = (plus[i] as number) + h;
    minus[i] = (minus[i] as number) - h;
    out[i] = (lossAt(plus) - lossAt(minus)) / (2 * h);
  }
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('second-order gradients (∂/∂w of a loss on ∂E/∂x)', () => {
  const reference = Object.fromEntries(Object.entries(ACTIVATIONS).map(([name, f]) => [name, finiteDifferences(f)]));

  it("tfjs's own gradients of exp, sigmoid, tanh, SiLU and softmax are wrong at second order (the bug this fixes)", () => {
    for (const name of ['exp', 'sigmoid', 'tanh', 'silu', 'softmax']) {
      const error = relativeL2Error(autogradOfScoreLoss(ACTIVATIONS[name] as Activation), reference[name] as Float64Array);
      expect(error, `${name}: stock relative error ${error}`).toBeGreaterThan(1e-2);
    }
    const control = relativeL2Error(autogradOfScoreLoss(ACTIVATIONS.softplus as Activation), reference.softplus as Float64Array);
    expect(control, `softplus: ${control}`).toBeLessThan(2e-4);
  });

  it('match central differences for every activation once registered, with no tensor left behind', () => {
    expect(() => autogradOfScoreLoss(pooledSilu)).toThrow(/AvgPoolGrad/);
    expect(registerSecondOrderGradients()).toEqual([
      'Exp',
      'Sigmoid',
      'Tanh',
      'Softmax',
      'AvgPoolGrad',
      'GenlabSilu',
      'GenlabSiluGrad',
      'GenlabConv2DBiasActivation',
      'GenlabDenseBiasActivation',
    ]);
    const pooledError = relativeL2Error(autogradOfScoreLoss(pooledSilu), finiteDifferences(pooledSilu));
    expect(pooledError, `average pooling: relative error ${pooledError}`).toBeLessThan(2e-4);
    for (const [name, f] of Object.entries(ACTIVATIONS)) {
      const error = relativeL2Error(autogradOfScoreLoss(f), reference[name] as Float64Array);
      expect(error, `${name}: relative error ${error}`).toBeLessThan(2e-4);
    }
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) autogradOfScoreLoss(ACTIVATIONS.silu as Activation);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leave first-order gradients unchanged', () => {
    for (const f of Object.values(ACTIVATIONS)) {
      const h = tf.tensor1d([-2, -0.5, 0, 0.7, 3]);
      const autograd = tf
        .grad((v: tf.Tensor) => tf.sum(f(v)))(h)
        .dataSync();
      const eps = 1e-3;
      const values = Array.from(h.dataSync());
      // Each element moved within the whole vector (softmax is not elementwise).
      const fd = values.map((_, i) => {
        const at = (delta: number) => tf.sum(f(tf.tensor1d(values.map((u, j) => (j === i ? u + delta : u))))).dataSync()[0] as number;
        return (at(eps) - at(-eps)) / (2 * eps);
      });
      expect(relativeL2Error(autograd, fd)).toBeLessThan(1e-3);
    }
  });
});

describe('SiLU through fused kernels (as LibTorch registers them)', () => {
  const calls = { [SILU_KERNEL]: 0, [SILU_GRAD_KERNEL]: 0 };

  /** GenlabSilu and GenlabSiluGrad for the cpu backend in plain JS, counting their calls. */
  function registerFusedSiluOnCpu(): void {
    type CpuBackend = {
      readSync(id: object): Float32Array;
      makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
    };
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    const elementwise =
      (kernelName: keyof typeof calls, f: (...values: number[]) => number, inputNames: string[]): tf.KernelFunc =>
      ({ inputs, backend }) => {
        calls[kernelName] += 1;
        const cpu = backend as unknown as CpuBackend;
        const infos = inputNames.map((name) => inputs[name] as tf.TensorInfo);
        const arrays = infos.map((t) => cpu.readSync(t.dataId));
        const out = (arrays[0] as Float32Array).map((_, i) => f(...arrays.map((a) => a[i] as number)));
        return cpu.makeTensorInfo((infos[0] as tf.TensorInfo).shape, 'float32', out);
      };
    tf.registerKernel({ kernelName: SILU_KERNEL, backendName: 'cpu', kernelFunc: elementwise(SILU_KERNEL, (v) => v * sigmoid(v), ['x']) });
    tf.registerKernel({
      kernelName: SILU_GRAD_KERNEL,
      backendName: 'cpu',
      kernelFunc: elementwise(SILU_GRAD_KERNEL, (dy, v) => dy * sigmoid(v) * (1 + v * (1 - sigmoid(v))), ['dy', 'x']),
    });
  }

  it('silu runs the fused kernels where the backend has them, exact to second order (central differences)', () => {
    registerSecondOrderGradients();
    const reference = finiteDifferences(silu);
    const composite = autogradOfScoreLoss(silu);
    expect(relativeL2Error(composite, reference)).toBeLessThan(2e-4);
    registerFusedSiluOnCpu();
    try {
      const fused = autogradOfScoreLoss(silu);
      // Forward, the energy's gradient (SiluGrad) and its own gradient all ran fused.
      expect(calls[SILU_KERNEL]).toBeGreaterThan(0);
      expect(calls[SILU_GRAD_KERNEL]).toBeGreaterThan(0);
      const error = relativeL2Error(fused, reference);
      expect(error, `fused SiLU: relative error ${error}`).toBeLessThan(2e-4);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) autogradOfScoreLoss(silu);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.unregisterKernel(SILU_KERNEL, 'cpu');
      tf.unregisterKernel(SILU_GRAD_KERNEL, 'cpu');
    }
  });
});

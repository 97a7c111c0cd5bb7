import '@tensorflow/tfjs-backend-cpu';
// Registers tfjs's own gradients, as every genlab model import does.
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerLeanGradients } from '../../src/backend/kernels/lean-gradients.js';
import { relativeError, relativeL2Error, seededValues } from '../helpers/numeric.js';

interface Case {
  /** Shapes of the inputs the gradient is taken with respect to. */
  shapes: number[][];
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Mean and Sum: the lean gradient is the same tensor, bit for bit. */
  exact?: boolean;
}

const positive = (v: tf.Tensor) => tf.add(tf.abs(v), 0.5);

// Batch ≥ 2 throughout (tfjs bugs hide at batch 1).
const CASES: Record<string, Case> = {
  'mean over axes 0–2 (batch statistics)': { shapes: [[2, 3, 3, 4]], f: (x) => tf.mean(x, [0, 1, 2]), exact: true },
  'mean over the last axis, keepDims': { shapes: [[2, 3, 4]], f: (x) => tf.mean(x, -1, true), exact: true },
  'mean of everything': { shapes: [[3, 5]], f: (x) => tf.mean(x), exact: true },
  'sum over axis 1': { shapes: [[2, 3, 4]], f: (x) => tf.sum(x, 1), exact: true },
  'sum of everything, keepDims': { shapes: [[2, 6]], f: (x) => tf.sum(x, undefined, true), exact: true },
  'batch norm in training (moments, then batchNorm: as tfjs-layers does it)': {
    shapes: [[2, 3, 3, 4], [4], [4]],
    f: (x, gamma, beta) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
    },
  },
  'batch norm with given per-channel statistics (all five inputs)': {
    shapes: [[2, 3, 5], [5], [5], [5], [5]],
    f: (x, mean, variance, gamma, beta) => tf.batchNorm(x, mean, positive(variance as tf.Tensor), beta, gamma, 1e-3),
  },
  'batch norm with statistics of the input shape': {
    shapes: [
      [2, 4],
      [2, 4],
      [2, 4],
      [2, 4],
      [2, 4],
    ],
    f: (x, mean, variance, gamma, beta) => tf.batchNorm(x, mean, positive(variance as tf.Tensor), beta, gamma, 1e-3),
  },
};

const values = (shape: number[], seed: number) =>
  seededValues(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
const inputsOf = (c: Case) => c.shapes.map((shape, i) => values(shape, 10 + i));

/** Σ f(xs)·w for a fixed weighting w, so that every output element matters. */
function loss(c: Case, xs: tf.Tensor[]): tf.Scalar {
  const y = c.f(...xs);
  return tf.sum(tf.mul(y, tf.tensor(values(y.shape, 7), y.shape))) as tf.Scalar;
}

function gradients(c: Case, inputs: Float32Array[]): Float32Array[] {
  return tf.tidy(() => {
    const xs = inputs.map((v, i) => tf.tensor(v, c.shapes[i]));
    return tf
      .grads((...args: tf.Tensor[]) => loss(c, args))(xs)
      .map((g) => g.dataSync() as Float32Array);
  });
}

function centralDifferences(c: Case, inputs: Float32Array[], h = 1e-2): Float64Array[] {
  const at = (perturbed: Float32Array[]) =>
    tf.tidy(
      () =>
        loss(
          c,
          perturbed.map((v, i) => tf.tensor(v, c.shapes[i])),
        ).dataSync()[0] as number,
    );
  return inputs.map((input, which) => {
    const out = new Float64Array(input.length);
    for (let j = 0; j < input.length; j++) {
      const plus = inputs.map((v) => Float32Array.from(v));
      const minus = inputs.map((v) => Float32Array.from(v));
      (plus[which] as Float32Array)[j] = (input[j] as number) + h;
      (minus[which] as Float32Array)[j] = (input[j] as number) - h;
      out[j] = (at(plus) - at(minus)) / (2 * h);
    }
    return out;
  });
}

// tfjs's own gradients, taken before genlab's replace them (registration is global and one-way).
const stock = new Map<string, Float32Array[]>();

beforeAll(async () => {
  await tf.setBackend('cpu');
  for (const [name, c] of Object.entries(CASES)) stock.set(name, gradients(c, inputsOf(c)));
  expect(registerLeanGradients()).toEqual(['Mean', 'Sum', 'FusedBatchNorm']);
});

describe('lean gradients of Mean, Sum and FusedBatchNorm', () => {
  it.each(Object.keys(CASES))('%s: the same gradients as tfjs, and central differences agree', (name) => {
    const c = CASES[name] as Case;
    const lean = gradients(c, inputsOf(c));
    const reference = stock.get(name) as Float32Array[];
    const differences = centralDifferences(c, inputsOf(c));
    lean.forEach((g, i) => {
      if (c.exact) expect(Array.from(g), `input ${i}`).toEqual(Array.from(reference[i] as Float32Array));
      else expect(relativeError(g, reference[i] as Float32Array), `input ${i} against tfjs`).toBeLessThan(1e-5);
      expect(relativeL2Error(g, differences[i] as Float64Array), `input ${i} against central differences`).toBeLessThan(2e-3);
    });
  });

  it('a gradient of the batch-norm gradient (∂/∂γ of ‖∂L/∂x‖²) matches central differences', () => {
    const c = CASES['batch norm in training (moments, then batchNorm: as tfjs-layers does it)'] as Case;
    const [x0, gamma0, beta0] = inputsOf(c) as [Float32Array, Float32Array, Float32Array];
    const [xShape, gammaShape, betaShape] = c.shapes as [number[], number[], number[]];
    const penalty = (gamma: tf.Tensor) => {
      const dx = tf.grad((x: tf.Tensor) => loss(c, [x, gamma, tf.tensor(beta0, betaShape)]))(tf.tensor(x0, xShape));
      return tf.sum(tf.square(dx)) as tf.Scalar;
    };
    const autograd = tf.tidy(() => tf.grad(penalty)(tf.tensor(gamma0, gammaShape)).dataSync() as Float32Array);
    const h = 1e-2;
    const numeric = Float64Array.from(gamma0, (_, j) => {
      const at = (delta: number) => {
        const gamma = Float32Array.from(gamma0);
        gamma[j] = (gamma[j] as number) + delta;
        return tf.tidy(() => penalty(tf.tensor(gamma, gammaShape)).dataSync()[0] as number);
      };
      return (at(h) - at(-h)) / (2 * h);
    });
    expect(relativeL2Error(autograd, numeric)).toBeLessThan(2e-3);
  });

  it('leaves no tensor behind across repeated gradient steps', () => {
    const c = CASES['batch norm in training (moments, then batchNorm: as tfjs-layers does it)'] as Case;
    gradients(c, inputsOf(c));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) gradients(c, inputsOf(c));
    expect(tf.memory().numTensors).toBe(before);
  });
});

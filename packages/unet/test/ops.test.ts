import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, useTestBackend } from '../../../testing/backend.js';
import { groupNorm, scaledDotProductAttention, upsampleNearest2x } from '../src/index.js';
import { maxAbsDiff, randomArray, randomTensor } from './helpers.js';

beforeAll(async () => {
  await useTestBackend(); // on cpu, also installs core's fast Conv2DBackpropFilter
});

/** Group norm written out with loops over an NHWC array. */
function groupNormReference(x: number[], [b, h, w, c]: number[], gamma: number[], beta: number[], groups: number, eps: number): number[] {
  const out = new Array<number>(x.length);
  const per = c! / groups;
  const at = (n: number, i: number, j: number, k: number) => ((n * h! + i) * w! + j) * c! + k;
  for (let n = 0; n < b!; n++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let i = 0; i < h!; i++) for (let j = 0; j < w!; j++) for (let k = g * per; k < (g + 1) * per; k++) idx.push(at(n, i, j, k));
      const mean = idx.reduce((s, q) => s + x[q]!, 0) / idx.length;
      const variance = idx.reduce((s, q) => s + (x[q]! - mean) ** 2, 0) / idx.length;
      for (const q of idx) {
        const k = q % c!;
        out[q] = ((x[q]! - mean) / Math.sqrt(variance + eps)) * gamma[k]! + beta[k]!;
      }
    }
  }
  return out;
}

describe('groupNorm', () => {
  it('matches a hand-written reference', async () => {
    const shape = [2, 3, 4, 6];
    const xs = randomArray(144, 1).map((v, i) => v * (1 + (i % 6)) + (i % 5)); // uneven scales and offsets per channel
    const gamma = randomArray(6, 2);
    const beta = randomArray(6, 3);
    for (const groups of [1, 2, 3, 6]) {
      const y = groupNorm(tf.tensor4d(xs, shape as [number, number, number, number]), tf.tensor1d(gamma), tf.tensor1d(beta), groups, 1e-5);
      const expected = groupNormReference(xs, shape, gamma, beta, groups, 1e-5);
      expect(maxAbsDiff(await y.data(), expected)).toBeLessThan(2e-5);
    }
  });

  it('its closed-form gradient equals autodiff through tf.moments', async () => {
    const x = tf.tensor4d(
      randomArray(2 * 3 * 2 * 4, 20).map((v, i) => v * (1 + (i % 4))),
      [2, 3, 2, 4],
    );
    const gamma = randomTensor([4], 21);
    const beta = randomTensor([4], 22);
    const G = randomTensor([2, 3, 2, 4], 23);
    const autodiff = (input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const grouped = tf.reshape(input, [2, 6, 2, 2]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      return tf.add(tf.mul(tf.reshape(tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, 1e-5))), [2, 3, 2, 4]), g), b);
    };
    const ours = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(groupNorm(a as tf.Tensor4D, g, b, 2, 1e-5), G)))([
      x,
      gamma,
      beta,
    ]);
    const reference = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(autodiff(a, g, b), G)))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(await ours[i]!.data(), await reference[i]!.data())).toBeLessThan(1e-4);
  });

  it('rejects groups that do not divide the channels', () => {
    const x = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D;
    expect(() => groupNorm(x, tf.ones([6]), tf.zeros([6]), 4, 1e-5)).toThrow(ValidationError);
  });
});

/**
 * Largest error of an upsampler's gradient at batch 3: for L = Σ up(x) ⊙ G the true gradient
 * is dL/dx[b,i,j,c] = Σ of G over the 2×2 block of (i, j) in sample b.
 */
async function upsampleGradientError(upsample: (x: tf.Tensor4D) => tf.Tensor4D): Promise<number> {
  const [b, h, w, c] = [3, 2, 3, 2];
  const x = randomTensor([b, h, w, c], 4) as tf.Tensor4D;
  const gValues = randomArray(b * 4 * h * w * c, 5);
  const G = tf.tensor4d(gValues, [b, 2 * h, 2 * w, c]);
  const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(upsample(input as tf.Tensor4D), G)))(x);
  const got = await dx.data();
  const expected: number[] = [];
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let k = 0; k < c; k++) {
          let sum = 0;
          for (const [di, dj] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ])
            sum += gValues[((n * 2 * h + 2 * i + di!) * 2 * w + 2 * j + dj!) * c + k]!;
          expected.push(sum);
        }
  tf.dispose([x, G, dx]);
  return maxAbsDiff(got, expected);
}

describe('upsampleNearest2x', () => {
  it('repeats every pixel into a 2×2 block', async () => {
    const xs = randomArray(2 * 2 * 3 * 2, 6);
    const y = upsampleNearest2x(tf.tensor4d(xs, [2, 2, 3, 2]));
    expect(y.shape).toEqual([2, 4, 6, 2]);
    const got = await y.data();
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 6; j++)
          for (let k = 0; k < 2; k++)
            expect(got[((n * 4 + i) * 6 + j) * 2 + k]).toBe(Math.fround(xs[((n * 2 + (i >> 1)) * 3 + (j >> 1)) * 2 + k]!));
  });

  it('has the right gradient at batch 3', async () => {
    expect(await upsampleGradientError(upsampleNearest2x)).toBeLessThan(1e-5);
  });

  it('the gradient check catches tf.image.resizeNearestNeighbor, whose cpu gradient is wrong for batch > 1 (right on torch)', async () => {
    // Documents the tfjs-backend-cpu 4.22 bug this package works around. If this starts failing
    // on cpu, tfjs has fixed ResizeNearestNeighborGrad; LibTorch's is right.
    const error = await upsampleGradientError((x) => tf.image.resizeNearestNeighbor(x, [2 * x.shape[1], 2 * x.shape[2]]));
    if (TEST_BACKEND === 'torch') expect(error).toBeLessThan(1e-5);
    else expect(error).toBeGreaterThan(0.1);
  });
});

/** softmax(q kᵀ/√d) v with loops, for [N, L, d] arrays. */
function attentionReference(q: number[], k: number[], v: number[], n: number, len: number, d: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < n; s++)
    for (let i = 0; i < len; i++) {
      const scores = Array.from({ length: len }, (_, j) => {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += q[(s * len + i) * d + e]! * k[(s * len + j) * d + e]!;
        return dot / Math.sqrt(d);
      });
      const max = Math.max(...scores);
      const weights = scores.map((z) => Math.exp(z - max));
      const total = weights.reduce((a, b) => a + b, 0);
      for (let e = 0; e < d; e++) out.push(weights.reduce((acc, wj, j) => acc + (wj / total) * v[(s * len + j) * d + e]!, 0));
    }
  return out;
}

describe('scaledDotProductAttention', () => {
  it('both strategies match a hand-written reference', async () => {
    const [n, len, d] = [3, 5, 4];
    const [q, k, v] = [7, 8, 9].map((seed) => randomArray(n * len * d, seed));
    const expected = attentionReference(q!, k!, v!, n, len, d);
    for (const strategy of ['batched', 'sliced'] as const) {
      const t = [q, k, v].map((a) => tf.tensor3d(a!, [n, len, d])) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      const out = scaledDotProductAttention(...t, strategy);
      expect(out.shape).toEqual([n, len, d]);
      expect(maxAbsDiff(await out.data(), expected)).toBeLessThan(1e-5);
      tf.dispose([...t, out]);
    }
  });

  // N = 1: a batch-1 energy-model request on wasm (one head) differentiates attention over a single row.
  it.each([2, 1])('both strategies have the same gradient (N = %i)', async (n) => {
    const [q, k, v] = [10, 11, 12].map((seed) => randomTensor([n, 4, 3], seed)) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const G = randomTensor([n, 4, 3], 13);
    const grads = await Promise.all(
      (['batched', 'sliced'] as const).map(async (strategy) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(scaledDotProductAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, strategy), G)),
        )([q, k, v]);
        expect(g.map((t) => t.shape)).toEqual([q.shape, k.shape, v.shape]);
        return Promise.all(g.map((t) => t.data()));
      }),
    );
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(grads[0]![i]!, grads[1]![i]!)).toBeLessThan(1e-5);
  });
});

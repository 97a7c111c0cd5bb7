import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpectralConv2D, SpectralDense } from '../src/index.js';
import { largestSingularValue, matTVec, matVec, maxAbsDiff, normalized, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

/** Builds a layer on a fixed input and replaces its kernel by a random one with a large norm. */
function denseWithKernel(fanIn: number, units: number, seed: number): SpectralDense {
  const layer = new SpectralDense({ units, seed });
  tf.tidy(() => {
    layer.apply(tf.zeros([1, fanIn]));
  });
  const [, bias, u, v] = layer.getWeights();
  layer.setWeights([tf.mul(tf.randomNormal([fanIn, units], 0, 1, 'float32', seed), 3), bias as tf.Tensor, u as tf.Tensor, v as tf.Tensor]);
  return layer;
}

async function values(t: tf.Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}

describe('the Jacobi reference', () => {
  it('finds known largest singular values', () => {
    expect(largestSingularValue([3, 0, 0, 1, 0, 0], 3, 2)).toBeCloseTo(3, 10);
    // Rank one u vᵀ: σ = |u|·|v| = √14 · √5.
    const u = [1, 2, 3];
    const v = [1, -2];
    const outer = u.flatMap((a) => v.map((b) => a * b));
    expect(largestSingularValue(outer, 3, 2)).toBeCloseTo(Math.sqrt(14) * Math.sqrt(5), 10);
  });
});

describe('SpectralDense', () => {
  it('drives the largest singular value of the normalised kernel to 1 by training calls', async () => {
    const layer = denseWithKernel(12, 8, 7);
    const raw = await values(layer.getWeights()[0]!.clone());
    const sigmaRaw = largestSingularValue(raw, 12, 8);
    expect(sigmaRaw).toBeGreaterThan(5); // far from 1 before normalisation
    const x = tf.randomNormal([4, 12], 0, 1, 'float32', 1);
    for (let i = 0; i < 40; i++)
      tf.tidy(() => {
        layer.apply(x, { training: true });
      });
    const normalizedKernel = await values(layer.normalizedKernel());
    expect(largestSingularValue(normalizedKernel, 12, 8)).toBeCloseTo(1, 3);
    // The normalised kernel is the raw one divided by its true σ.
    expect(
      maxAbsDiff(
        normalizedKernel,
        raw.map((w) => w / sigmaRaw),
      ),
    ).toBeLessThan(1e-4);
    x.dispose();
    layer.dispose();
  });

  it('runs exactly one power iteration per training call and none at inference', async () => {
    const layer = denseWithKernel(6, 5, 3);
    const kernel = await values(layer.getWeights()[0]!.clone());
    const before = layer.powerIterationState();
    const uBefore = await values(before.u);
    before.v.dispose();
    const x = tf.randomNormal([2, 6], 0, 1, 'float32', 2);

    tf.tidy(() => {
      layer.apply(x, { training: false });
    });
    const unchanged = layer.powerIterationState();
    expect(maxAbsDiff(await values(unchanged.u), uBefore)).toBe(0);
    unchanged.v.dispose();

    tf.tidy(() => {
      layer.apply(x, { training: true });
    });
    const after = layer.powerIterationState();
    // Reference in float64: v = normalize(W u), u' = normalize(Wᵀ v).
    const vRef = normalized(matVec(kernel, 6, 5, uBefore));
    const uRef = normalized(matTVec(kernel, 6, 5, vRef));
    expect(maxAbsDiff(await values(after.u), uRef)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await values(after.v), vRef)).toBeLessThan(1e-5);
    x.dispose();
    layer.dispose();
  });

  it('computes x·W/σ + b with σ = vᵀWu from the stored vectors', async () => {
    const layer = denseWithKernel(4, 3, 11);
    // getWeights() returns the variables themselves: never dispose them.
    const [k, , u0, v0] = layer.getWeights();
    layer.setWeights([k as tf.Tensor, tf.tensor1d([0.5, -1, 2]), u0 as tf.Tensor, v0 as tf.Tensor]);
    const kernel = await values((k as tf.Tensor).clone());
    const state = layer.powerIterationState();
    const u = await values(state.u);
    const v = await values(state.v);
    const sigma = v.reduce((s, vi, i) => s + vi * (matVec(kernel, 4, 3, u)[i] as number), 0);
    const xs = [1, 2, -1, 0.5, -3, 0, 1, 1];
    const out = await values(tf.tidy(() => layer.apply(tf.tensor2d(xs, [2, 4])) as tf.Tensor));
    const expected: number[] = [];
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = 0; i < 4; i++) s += (xs[r * 4 + i] as number) * (kernel[i * 3 + c] as number);
        expected.push(s / sigma + ([0.5, -1, 2][c] as number));
      }
    }
    expect(maxAbsDiff(out, expected)).toBeLessThan(1e-4);
    layer.dispose();
  });

  it('treats u and v as constants in the gradient (stop-gradient through the power iteration)', async () => {
    const layer = denseWithKernel(5, 4, 5);
    // Start from vectors far from the singular vectors, so the power iteration's own dependence on W matters.
    const w = layer.getWeights();
    layer.setWeights([w[0] as tf.Tensor, w[1] as tf.Tensor, tf.tensor1d([1, 0, 0, 0]), tf.tensor1d([0, 0, 0, 0, 1])]);
    const x = tf.randomNormal([3, 5], 0, 1, 'float32', 9);
    const r = tf.randomNormal([3, 4], 0, 1, 'float32', 10);
    const kernelVar = layer.trainableWeights[0]!.read() as tf.Variable;
    const gradOf = (training: boolean) =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training }) as tf.Tensor, r)) as tf.Scalar, [kernelVar]);
        return grads[kernelVar.name] as tf.Tensor;
      });
    const trainingGrad = await values(gradOf(true)); // updates u, v once
    const frozenGrad = await values(gradOf(false)); // the same u, v, held fixed
    expect(maxAbsDiff(trainingGrad, frozenGrad)).toBeLessThan(1e-5);
    expect(Math.max(...trainingGrad.map(Math.abs))).toBeGreaterThan(1e-3);
    tf.dispose([x, r]);
    layer.dispose();
  });
});

describe('SpectralConv2D', () => {
  it('normalises the kernel viewed as [kh·kw·cin, filters] and convolves with it', async () => {
    const layer = new SpectralConv2D({ filters: 4, kernelSize: 3, strides: 2, seed: 4 });
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 4);
    tf.tidy(() => {
      layer.apply(x);
    });
    const w = layer.getWeights();
    layer.setWeights([tf.randomNormal([3, 3, 2, 4], 0, 2, 'float32', 8), w[1] as tf.Tensor, w[2] as tf.Tensor, w[3] as tf.Tensor]);
    for (let i = 0; i < 40; i++)
      tf.tidy(() => {
        layer.apply(x, { training: true });
      });
    const kernel = layer.normalizedKernel();
    expect(largestSingularValue(await kernel.data(), 18, 4)).toBeCloseTo(1, 3);
    const out = tf.tidy(() => layer.apply(x) as tf.Tensor);
    expect(out.shape).toEqual([2, 3, 3, 4]);
    const reference = tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 2, 'same');
    expect(maxAbsDiff(await values(out), await values(reference))).toBeLessThan(1e-5);
    tf.dispose([x, kernel]);
    layer.dispose();
  });
});

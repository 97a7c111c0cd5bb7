import { CONV2D_BIAS_ACTIVATION_KERNEL, DENSE_BIAS_ACTIVATION_KERNEL, hasFusedKernel } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEnergyNet, type EnergyNetOptions, modelEnergies } from '../src/index.js';
import { useCpuBackend } from './helpers.js';

// Runs on the test backend: on cpu `modelEnergies` must take tfjs-layers' own path; on torch
// (`npm run test:torch`, and CI's second run) the fused layer kernels, whose results must equal it.
beforeAll(useCpuBackend);

const tinyImage = { inputShape: [8, 8, 3], channels: [4, 8], hiddenUnits: [6] } as const;

function image(seed: number): tf.Tensor4D {
  return tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', seed) as tf.Tensor4D;
}

/** Σ cᵢ·E(xᵢ) and its gradients in x and in every weight, through `forward`. */
function gradients(model: tfl.LayersModel, forward: (x: tf.Tensor) => tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const x = image(1);
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = () => tf.sum(tf.mul(forward(x), tf.tensor1d([0.7, -1.3]))) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, weights);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(forward(t)))(x);
    return [value, dx, ...weights.map((w) => grads[w.name] as tf.Tensor)].map((t) => t.dataSync() as Float32Array);
  });
}

function maxRelativeError(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((values, i) => {
    const reference = b[i] as Float32Array;
    const scale = Math.max(1e-6, ...Array.from(reference, Math.abs));
    values.forEach((v, j) => {
      worst = Math.max(worst, Math.abs(v - (reference[j] as number)) / scale);
    });
  });
  return worst;
}

/** The kernels one training-mode call of `modelEnergies` runs. */
async function kernelsOf(model: tfl.LayersModel): Promise<string[]> {
  const x = image(2);
  const profile = await tf.profile(() => modelEnergies(model, x, { training: true }).energies);
  x.dispose();
  return profile.kernels.map((k) => k.name);
}

describe('modelEnergies on a plain chain (Conv2D and Dense layers with SiLU)', () => {
  it('equals model.apply: the energies and their gradients in x and in every weight', () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, seed: 4 });
    const viaModel = gradients(model, (x) => tf.reshape(model.apply(x, { training: true }) as tf.Tensor, [-1]));
    const viaChain = gradients(model, (x) => modelEnergies(model, x, { training: true }).energies);
    expect(viaChain).toHaveLength(2 + model.trainableWeights.length);
    expect(maxRelativeError(viaChain, viaModel)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('runs each layer as one fused kernel where the backend has them, and as tfjs-layers does elsewhere', async () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, seed: 4 });
    const kernels = await kernelsOf(model);
    const fused = hasFusedKernel(CONV2D_BIAS_ACTIVATION_KERNEL);
    expect(kernels.filter((name) => name === CONV2D_BIAS_ACTIVATION_KERNEL)).toHaveLength(fused ? 2 : 0);
    expect(kernels.filter((name) => name === DENSE_BIAS_ACTIVATION_KERNEL)).toHaveLength(fused ? 2 : 0);
    model.dispose();
  });

  it('reports an input of the wrong shape as tfjs-layers does', () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, seed: 4 });
    const x = tf.zeros([2, 9, 8, 3]);
    expect(() => modelEnergies(model, x)).toThrow(/expected .*shape/i);
    x.dispose();
    model.dispose();
  });

  it('leaves nets that are not plain chains to model.apply (residual blocks, spectral norm)', async () => {
    const nets: EnergyNetOptions[] = [
      { preset: 'resnet-small', inputShape: [8, 8, 3], seed: 3 },
      { preset: 'small', ...tinyImage, spectralNorm: true, seed: 3 },
    ];
    for (const options of nets) {
      const model = createEnergyNet(options);
      expect(await kernelsOf(model)).not.toContain(CONV2D_BIAS_ACTIVATION_KERNEL);
      const x = image(3);
      const [chain, plain] = tf.tidy(() => [
        modelEnergies(model, x).energies.dataSync(),
        tf.reshape(model.apply(x) as tf.Tensor, [-1]).dataSync(),
      ]);
      expect(Array.from(chain as Float32Array)).toEqual(Array.from(plain as Float32Array));
      x.dispose();
      model.dispose();
    }
  });
});

import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEnergyNet, ReplayBuffer, SpectralConv2D, trainEnergyStep } from '../src/index.js';
import { matTVec, matVec, maxAbsDiff, normalized, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

const tinyImage = { inputShape: [8, 8, 3], channels: [4, 8] } as const;
const shortChain = { steps: 3, stepSize: 10, noiseStd: 0.005, gradClip: 0.03 };

describe('trainEnergyStep', () => {
  it('leaves no tensors behind across steps (spectrally normalised resnet, real Langevin)', async () => {
    const rng = new Rng(1);
    const model = createEnergyNet({ preset: 'resnet', ...tinyImage, seed: 1 });
    const optimizer = tf.train.adam(1e-3, 0, 0.999);
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3], capacity: 32 });
    const data = rng.uniform([4, 8, 8, 3], -1, 1);
    const step = () => trainEnergyStep({ model, optimizer, buffer, data, rng, langevin: shortChain, dataNoiseStd: 0.005 });
    await step(); // creates the optimizer's slots
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const result = await step();
      expect(Number.isFinite(result.loss)).toBe(true);
      expect(result.loss).toBeCloseTo(result.cdLoss + 0.1 * result.regularizer, 4);
      expect(result.cdLoss).toBeCloseTo(result.ePosMean - result.eNegMean, 4);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(buffer.size).toBeGreaterThanOrEqual(4);
    data.dispose();
    model.dispose();
    optimizer.dispose();
  });

  it('stores the Langevin outputs in the buffer and runs exactly one power iteration per step', async () => {
    const rng = new Rng(2);
    const model = createEnergyNet({ preset: 'resnet', ...tinyImage, seed: 2 });
    const conv = model.layers.find((l) => l instanceof SpectralConv2D) as SpectralConv2D;
    const optimizer = tf.train.sgd(0); // weights fixed: only u, v may change
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3], capacity: 8, reinitProbability: 1 });
    const data = rng.uniform([2, 8, 8, 3], -1, 1);
    let chainOutput: Float32Array | undefined;
    const sampler = async (_e: unknown, x0: tf.Tensor) => {
      const samples = tf.mul(x0, 0.5); // a recognisable "chain"
      chainOutput = (await samples.data()) as Float32Array;
      return { samples };
    };
    // Start u far from the singular vector so one power iteration is told apart from two.
    const weights = conv.getWeights();
    const filters = conv.filters;
    const uStart = Array.from({ length: filters }, (_, i) => (i === 0 ? 1 : 0));
    conv.setWeights([weights[0] as tf.Tensor, weights[1] as tf.Tensor, tf.tensor1d(uStart), weights[3] as tf.Tensor]);
    const kernel = await conv.getWeights()[0]!.data();
    const fanIn = kernel.length / filters;
    await trainEnergyStep({ model, optimizer, buffer, data, rng, sampler });
    expect(Array.from(buffer.serialize().data)).toEqual(Array.from(chainOutput as Float32Array));
    const after = conv.powerIterationState();
    const vRef = normalized(matVec(kernel, fanIn, filters, uStart));
    const uRef = normalized(matTVec(kernel, fanIn, filters, vRef));
    expect(maxAbsDiff(await after.u.data(), uRef)).toBeLessThan(1e-5);
    const twice = normalized(matTVec(kernel, fanIn, filters, normalized(matVec(kernel, fanIn, filters, uRef))));
    expect(maxAbsDiff(twice, uRef)).toBeGreaterThan(1e-3); // so a second iteration would have been seen
    tf.dispose([after.u, after.v, data]);
    model.dispose();
    optimizer.dispose();
  });

  it('adds the classification term in JEM mode and needs labels for conditional models', async () => {
    const rng = new Rng(3);
    const data = rng.uniform([3, 8, 8, 3], -1, 1);
    const jem = createEnergyNet({ ...tinyImage, mode: 'jem', numClasses: 4, seed: 3 });
    const optimizer = tf.train.adam(1e-3);
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3] });
    const labels = [0, 3, 1];
    const logits = jem.predict(data) as tf.Tensor2D;
    const logProbs = await tf.logSoftmax(logits).data();
    const expectedCe = -labels.reduce((s, y, i) => s + (logProbs[i * 4 + y] as number), 0) / 3;
    logits.dispose();
    const result = await trainEnergyStep({ model: jem, optimizer, buffer, data, labels, rng, langevin: shortChain });
    expect(result.classificationLoss).toBeCloseTo(expectedCe, 4);
    expect(result.loss).toBeCloseTo(result.cdLoss + 0.1 * result.regularizer + expectedCe, 3);

    const conditional = createEnergyNet({ ...tinyImage, mode: 'conditional', numClasses: 4, seed: 4 });
    await expect(trainEnergyStep({ model: conditional, optimizer, buffer, data, rng })).rejects.toThrow(ValidationError);
    await expect(trainEnergyStep({ model: conditional, optimizer, buffer, data, labels: [0, 4, 1], rng })).rejects.toThrow(ValidationError);
    const ok = await trainEnergyStep({
      model: conditional,
      optimizer: tf.train.adam(1e-3),
      buffer,
      data,
      labels,
      rng,
      langevin: shortChain,
    });
    expect(Number.isFinite(ok.loss)).toBe(true);
    tf.dispose(data);
    jem.dispose();
    conditional.dispose();
  });
});

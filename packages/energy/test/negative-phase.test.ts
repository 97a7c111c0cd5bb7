import { Rng, ValidationError } from '@lab/core';
import { langevin } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEnergyNet, energyFunction, ReplayBuffer, sampleNegatives } from '../src/index.js';
import { useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

const tinyImage = { inputShape: [8, 8, 3], channels: [4, 8] } as const;
const shortChain = { steps: 3, stepSize: 10, noiseStd: 0.005, gradClip: 0.03 };

/** A copy of `buffer` that draws exactly as it does. */
const copyOf = (buffer: ReplayBuffer) => ReplayBuffer.deserialize(buffer.serialize());

describe('sampleNegatives', () => {
  it('is the buffer draw followed by Langevin on the current energy, with the same rng stream', async () => {
    const model = createEnergyNet({ preset: 'resnet', ...tinyImage, seed: 1 });
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3], capacity: 16, reinitProbability: 0.3 });
    const seedRows = new Rng(5).uniform([10, 8, 8, 3], -1, 1);
    await buffer.push(seedRows);
    seedRows.dispose();

    const rng = new Rng(9);
    const negatives = await sampleNegatives({ model, buffer, count: 6, rng, langevin: shortChain });

    const refRng = new Rng(9);
    const drawn = copyOf(buffer).sampleWithIndices(6, refRng);
    const { samples: expected } = await langevin(energyFunction(model), drawn.samples, { ...shortChain, rng: refRng });
    expect(negatives.samples.shape).toEqual([6, 8, 8, 3]);
    expect(Array.from(await negatives.samples.data())).toEqual(Array.from(await expected.data()));
    expect(Array.from(negatives.indices)).toEqual(Array.from(drawn.indices));
    expect(negatives.reinitialized).toBe(drawn.reinitialized);
    expect(rng.getState()).toEqual(refRng.getState()); // nothing drawn after the chain
    tf.dispose([negatives.samples, expected, drawn.samples]);
    model.dispose();
  });

  it('returns slots that push and pushRows accept, and counts the fresh rows as the buffer does', async () => {
    const model = createEnergyNet({ architecture: 'mlp', inputShape: [2], hiddenUnits: [8], seed: 3 });
    const buffer = new ReplayBuffer({ sampleShape: [2], capacity: 8, reinitProbability: 0.4 });
    const rng = new Rng(4);
    const chain = { ...shortChain, stepSize: 0.01, gradClip: null };

    // Empty buffer: every row is fresh noise, and the push appends them all.
    const first = await sampleNegatives({ model, buffer, count: 5, rng, langevin: chain });
    expect(Array.from(first.indices)).toEqual([-1, -1, -1, -1, -1]);
    expect(first.reinitialized).toBe(5);
    await buffer.push(first.samples, first.indices);
    expect(buffer.size).toBe(5);
    first.samples.dispose();

    let fresh = 0;
    let continued = 0;
    for (let step = 0; step < 6; step++) {
      const reference = copyOf(buffer).drawRows(4, Rng.fromState(rng.getState()));
      const { samples, indices, reinitialized } = await sampleNegatives({ model, buffer, count: 4, rng, langevin: chain });
      expect(Array.from(indices)).toEqual(Array.from(reference.indices));
      expect(reinitialized).toBe(reference.reinitialized);
      expect(reinitialized).toBe(Array.from(indices).filter((i) => i === -1).length);
      for (const i of indices) expect(i === -1 || (i >= 0 && i < buffer.size)).toBe(true);
      fresh += reinitialized;
      continued += 4 - reinitialized;

      const values = (await samples.data()) as Float32Array;
      const sizeBefore = buffer.size;
      if (step % 2 === 0) await buffer.push(samples, indices);
      else buffer.pushRows(values, indices);
      samples.dispose();
      // Continued chains went back to their own slots; fresh ones were appended (up to capacity).
      if (sizeBefore + reinitialized <= 8) {
        const stored = buffer.serialize().data;
        indices.forEach((slot, row) => {
          if (slot >= 0 && indices.indexOf(slot) === indices.lastIndexOf(slot))
            expect(Array.from(stored.subarray(slot * 2, slot * 2 + 2))).toEqual(Array.from(values.subarray(row * 2, row * 2 + 2)));
        });
      }
      expect(buffer.size).toBe(Math.min(8, sizeBefore + reinitialized));
    }
    expect(fresh).toBeGreaterThan(0);
    expect(continued).toBeGreaterThan(0);
    model.dispose();
  });

  it('disposes its start tensor, passes the settings to the sampler, and leaves no tensors behind', async () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, hiddenUnits: [8], seed: 2 });
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3], capacity: 4 });
    const rng = new Rng(6);
    const controller = new AbortController();
    let start: tf.Tensor | undefined;
    let seen: Record<string, unknown> | undefined;
    const negatives = await sampleNegatives({
      model,
      buffer,
      count: 3,
      rng,
      langevin: { ...shortChain, clampRange: [-1, 1] },
      signal: controller.signal,
      sampler: async (_energy, x0, options) => {
        start = x0;
        seen = { ...options };
        return { samples: tf.mul(x0, 0.5) };
      },
    });
    expect(start?.isDisposed).toBe(true);
    expect(negatives.samples.isDisposed).toBe(false);
    expect(seen).toMatchObject({ ...shortChain, clampRange: [-1, 1], rng, signal: controller.signal });
    negatives.samples.dispose();

    // A sampler that hands back its start unchanged: that tensor is the result, so it stays.
    const same = await sampleNegatives({ model, buffer, count: 3, rng, sampler: async (_e, x0) => ({ samples: x0 }) });
    expect(same.samples.isDisposed).toBe(false);
    same.samples.dispose();

    // A failing sampler still disposes the start.
    const failing = sampleNegatives({
      model,
      buffer,
      count: 3,
      rng,
      sampler: async (_e, x0) => {
        start = x0;
        throw new Error('chain failed');
      },
    });
    await expect(failing).rejects.toThrow('chain failed');
    expect(start?.isDisposed).toBe(true);

    // Real Langevin, pushed back each time: the tensor count stays flat.
    const step = async () => {
      const { samples, indices } = await sampleNegatives({ model, buffer, count: 3, rng, langevin: shortChain });
      await buffer.push(samples, indices);
      samples.dispose();
    };
    await step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await step();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('runs conditional chains on E(x, y) with their labels and refuses them without labels', async () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, hiddenUnits: [8], mode: 'conditional', numClasses: 4, seed: 4 });
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3], capacity: 8 });
    const rng = new Rng(8);

    const untouched = rng.getState();
    await expect(sampleNegatives({ model, buffer, count: 3, rng })).rejects.toThrow(ValidationError);
    await expect(sampleNegatives({ model, buffer, count: 3, rng })).rejects.toThrow(/conditional energy model needs labels/);
    await expect(sampleNegatives({ model, buffer, count: 3, rng, labels: [0, 1] })).rejects.toThrow(ValidationError);
    await expect(sampleNegatives({ model, buffer, count: 3, rng, labels: [0, 4, 1] })).rejects.toThrow(ValidationError);
    expect(rng.getState()).toEqual(untouched); // refused before drawing anything
    await expect(sampleNegatives({ model, buffer, count: 0, rng, labels: 0 })).rejects.toThrow(ValidationError);

    const labels = [2, 0, 3];
    const refRng = Rng.fromState(rng.getState());
    const drawn = copyOf(buffer).sampleWithIndices(3, refRng);
    const { samples: expected } = await langevin(energyFunction(model, { classLabel: labels }), drawn.samples, {
      ...shortChain,
      rng: refRng,
    });
    const before = tf.memory().numTensors;
    const negatives = await sampleNegatives({ model, buffer, count: 3, rng, labels, langevin: shortChain });
    expect(tf.memory().numTensors).toBe(before + 1); // the samples; the label tensor made from the array is gone
    expect(Array.from(await negatives.samples.data())).toEqual(Array.from(await expected.data()));

    // A caller's label tensor is used as is and not disposed.
    const labelTensor = tf.tensor1d(labels, 'int32');
    const again = await sampleNegatives({ model, buffer, count: 3, rng, labels: labelTensor, langevin: shortChain });
    expect(labelTensor.isDisposed).toBe(false);
    tf.dispose([negatives.samples, expected, drawn.samples, again.samples, labelTensor]);
    model.dispose();
  });

  it('samples JEM negatives from the marginal E(x): labels make no difference', async () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, hiddenUnits: [8], mode: 'jem', numClasses: 4, seed: 5 });
    const buffer = new ReplayBuffer({ sampleShape: [8, 8, 3] });
    const withLabels = await sampleNegatives({ model, buffer, count: 2, rng: new Rng(1), labels: [1, 3], langevin: shortChain });
    const without = await sampleNegatives({ model, buffer, count: 2, rng: new Rng(1), langevin: shortChain });
    expect(Array.from(await withLabels.samples.data())).toEqual(Array.from(await without.samples.data()));
    tf.dispose([withLabels.samples, without.samples]);
    model.dispose();
  });
});

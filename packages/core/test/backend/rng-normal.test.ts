import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Rng, SEEDED_NORMAL_KERNEL } from '../../src/index.js';

/** Registers a stand-in for a backend's native draw on cpu: value i is seed + i, and each call's attrs are kept. */
function standInKernel(): Array<Record<string, unknown>> {
  const calls: Array<Record<string, unknown>> = [];
  tf.registerKernel({
    kernelName: SEEDED_NORMAL_KERNEL,
    backendName: 'cpu',
    kernelFunc: ({ attrs, backend }) => {
      const a = attrs as unknown as { shape: number[]; seed: number };
      calls.push({ ...attrs });
      const size = a.shape.reduce((x, y) => x * y, 1);
      const dataId = (backend as tf.KernelBackend).write(
        Float32Array.from({ length: size }, (_, i) => a.seed + i),
        a.shape,
        'float32',
      );
      return { dataId, shape: a.shape, dtype: 'float32' };
    },
  });
  return calls;
}

describe('Rng.normal', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(() => {
    if (tf.getKernel(SEEDED_NORMAL_KERNEL, 'cpu')) tf.unregisterKernel(SEEDED_NORMAL_KERNEL, 'cpu');
  });

  it("without the backend's kernel: tf.randomNormal seeded with the generator's next seed", async () => {
    const rng = new Rng(17, 3);
    const twin = new Rng(17, 3);
    const drawn = rng.normal([5, 7], 0.5, 2);
    const expected = tf.randomNormal([5, 7], 0.5, 2, 'float32', twin.nextSeed());
    expect(Array.from(await drawn.data())).toEqual(Array.from(await expected.data()));
    expect(rng.getState()).toEqual(twin.getState());
    tf.dispose([drawn, expected]);
  });

  it("with the backend's kernel: one call with the shape, mean, std and the same seed", async () => {
    const calls = standInKernel();
    const rng = new Rng(17, 3);
    const seed = new Rng(17, 3).nextSeed();
    const drawn = rng.normal([2, 3], 0.5, 2);
    expect(calls).toEqual([{ shape: [2, 3], mean: 0.5, stdDev: 2, seed }]);
    expect(drawn.shape).toEqual([2, 3]);
    expect((await drawn.data())[1]).toBe(Math.fround(seed + 1));
    drawn.dispose();
  });

  it('seed 0, which tfjs reads as "unseeded", is left to tf.randomNormal; a bad shape fails before any draw', () => {
    const calls = standInKernel();
    // SplitMix32 maps 0 to 0, so the first output is 0 when seed + 1·golden ≡ 0 (mod 2^32).
    const zeroFirst = new Rng(0x61c88647);
    expect(new Rng(0x61c88647).nextSeed()).toBe(0);
    const drawn = zeroFirst.normal([3]);
    expect(calls).toEqual([]);
    drawn.dispose();
    expect(() => new Rng(1).normal([2, -1])).toThrow(RangeError);
    expect(() => new Rng(1).normal([2.5])).toThrow(RangeError);
    expect(calls).toEqual([]);
  });
});

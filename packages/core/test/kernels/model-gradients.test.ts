import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { onBackend, relativeError, setUpCpuAndWasm } from '../helpers/backends.js';
import { unetLikeGradients as gradients } from '../helpers/unet-like-graph.js';

beforeAll(setUpCpuAndWasm);

describe('training gradients on wasm', () => {
  it('match cpu within 1e-4 for every parameter of a UNet/energy-net-like graph', async () => {
    const onCpu = await onBackend('cpu', gradients);
    const onWasm = await onBackend('wasm', gradients);
    for (const name of Object.keys(onCpu)) {
      const error = relativeError(onWasm[name]!, onCpu[name]!);
      expect(error, `${name}: relative error ${error}`).toBeLessThan(1e-4);
      expect(
        onCpu[name]!.some((v) => v !== 0),
        `${name} has a non-zero gradient`,
      ).toBe(true);
    }
  });

  it('keep tensor and buffer counts flat across repeated steps', async () => {
    await onBackend('wasm', async () => {
      await gradients();
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      await gradients();
      await gradients();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(buffers);
    });
  });

  it('sum segments (the gather gradient) exactly, dropping out-of-range ids', async () => {
    await onBackend('wasm', async () => {
      const x = tf.tensor2d([1, 2, 10, 20, 100, 200, 1000, 2000, 5, 5], [5, 2]);
      const ids = tf.tensor1d([2, 0, 2, -1, 7], 'int32');
      const sums = tf.unsortedSegmentSum(x, ids, 3);
      expect(sums.shape).toEqual([3, 2]);
      expect(Array.from(await sums.data())).toEqual([10, 20, 0, 0, 101, 202]);
      tf.dispose([x, ids, sums]);
    });
  });
});

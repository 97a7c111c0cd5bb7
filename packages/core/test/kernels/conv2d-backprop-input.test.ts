import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { getStockKernel } from '../../src/backend/kernels/register.js';
import { onBackend, relativeError, seededValues, setUpCpuAndWasm } from '../helpers/backends.js';
import { CASES, type ConvCase, dyShape, naiveInputGradient, size } from '../helpers/conv-cases.js';

/** The input gradient through the registered kernel on the active backend (via autodiff). */
async function inputGradient(c: ConvCase, w: Float32Array, dy: Float32Array): Promise<Float32Array> {
  const result = tf.tidy(() => {
    const wt = tf.tensor4d(w, c.filter);
    const dyt = tf.tensor4d(dy, dyShape(c));
    return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, wt, c.strides, c.pad), dyt)))(tf.zeros(c.x));
  });
  const values = (await result.data()) as Float32Array;
  result.dispose();
  return values;
}

beforeAll(setUpCpuAndWasm);

describe('Conv2DBackpropInput on wasm (one XNNPACK conv of the zero-dilated dy)', () => {
  for (const [index, c] of CASES.entries()) {
    it(`matches the cpu backend and a float64 reference: ${c.name}`, async () => {
      const w = seededValues(size(c.filter), 211 + index);
      const dy = seededValues(size(dyShape(c)), 307 + index);
      const reference = naiveInputGradient(c, w, dy);
      const onWasm = await onBackend('wasm', () => inputGradient(c, w, dy));
      const onCpu = await onBackend('cpu', () => inputGradient(c, w, dy));
      expect(relativeError(onWasm, onCpu)).toBeLessThan(1e-4);
      expect(relativeError(onWasm, reference)).toBeLessThan(1e-5);
    });
  }

  it('is the kernel registered for wasm, with the stock one kept aside', () => {
    const stock = getStockKernel(tf.Conv2DBackpropInput, 'wasm');
    expect(stock).toBeDefined();
    expect(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')?.kernelFunc).not.toBe(stock);
  });

  it('leaks no tensors or backend buffers', async () => {
    await onBackend('wasm', async () => {
      const c = CASES[4]!;
      const w = seededValues(size(c.filter), 1);
      const dy = seededValues(size(dyShape(c)), 2);
      await inputGradient(c, w, dy);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      for (let i = 0; i < 3; i++) await inputGradient(c, w, dy);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(buffers);
    });
  });
});

describe('BatchMatMul with transposed operands on wasm', () => {
  it('matches cpu for every transpose flag and a broadcast batch', async () => {
    const a = seededValues(2 * 3 * 4, 1);
    const b = seededValues(1 * 4 * 5, 2);
    const shapes: [boolean, boolean, [number, number, number], [number, number, number]][] = [
      [false, false, [2, 3, 4], [1, 4, 5]],
      [true, false, [2, 4, 3], [1, 4, 5]],
      [false, true, [2, 3, 4], [1, 5, 4]],
      [true, true, [2, 4, 3], [1, 5, 4]],
    ];
    for (const [ta, tb, sa, sb] of shapes) {
      const run = async () => {
        const out = tf.tidy(() => tf.matMul(tf.tensor(a, sa) as tf.Tensor3D, tf.tensor(b, sb) as tf.Tensor3D, ta, tb));
        const values = await out.data();
        expect(out.shape).toEqual([2, 3, 5]);
        out.dispose();
        return values;
      };
      const onWasm = await onBackend('wasm', run);
      const onCpu = await onBackend('cpu', run);
      expect(relativeError(onWasm, onCpu), `transposeA=${ta} transposeB=${tb}`).toBeLessThan(1e-6);
    }
  });
});

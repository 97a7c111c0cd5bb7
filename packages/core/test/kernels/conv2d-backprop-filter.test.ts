import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { getStockKernel } from '../../src/backend/kernels/register.js';
import { onBackend, relativeError, seededValues, setUpCpuAndWasm } from '../helpers/backends.js';
import { CASES, type ConvCase as Case, dyShape, naiveFilterGradient, size } from '../helpers/conv-cases.js';

/** The filter gradient through the registered kernel on the active backend (via autodiff). */
async function filterGradient(c: Case, x: Float32Array, dy: Float32Array): Promise<Float32Array> {
  const dyS = dyShape(c);
  const result = tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const dyt = tf.tensor4d(dy, dyS);
    const grad = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, w as tf.Tensor4D, c.strides, c.pad), dyt)));
    return grad(tf.zeros(c.filter) as tf.Tensor4D);
  });
  const values = (await result.data()) as Float32Array;
  result.dispose();
  return values;
}

beforeAll(setUpCpuAndWasm);

describe('Conv2DBackpropFilter (wasm and cpu, via one forward conv)', () => {
  for (const [index, c] of CASES.entries()) {
    it(`matches the cpu backend and a float64 reference: ${c.name}`, async () => {
      const x = seededValues(size(c.x), 11 + index);
      const dy = seededValues(size(dyShape(c)), 97 + index);
      const reference = naiveFilterGradient(c, x, dy);
      const onWasm = await onBackend('wasm', () => filterGradient(c, x, dy));
      const onCpu = await onBackend('cpu', () => filterGradient(c, x, dy));
      expect(relativeError(onWasm, onCpu)).toBeLessThan(1e-4);
      expect(relativeError(onWasm, reference)).toBeLessThan(1e-5);
      expect(relativeError(onCpu, reference)).toBeLessThan(1e-5);
    });
  }

  it('agrees with the stock tfjs cpu kernel it replaces', async () => {
    const stock = getStockKernel(tf.Conv2DBackpropFilter, 'cpu');
    expect(stock).toBeDefined();
    for (const c of CASES.slice(0, 5)) {
      const x = seededValues(size(c.x), 5);
      const dy = seededValues(size(dyShape(c)), 6);
      const ours = await onBackend('cpu', () => filterGradient(c, x, dy));
      const theirs = await onBackend('cpu', async () => {
        const xt = tf.tensor4d(x, c.x);
        const dyt = tf.tensor4d(dy, dyShape(c));
        const info = stock!({
          inputs: { x: xt, dy: dyt },
          backend: tf.backend(),
          attrs: { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as never,
        }) as tf.TensorInfo;
        const out = tf.engine().makeTensorFromTensorInfo(info);
        const values = await out.data();
        tf.dispose([xt, dyt, out]);
        return values;
      });
      expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
    }
  });

  it('matches central finite differences of the loss on cpu', async () => {
    const c = CASES[2]!;
    const x = tf.tensor4d(seededValues(size(c.x), 3), c.x);
    const dy = tf.tensor4d(seededValues(size(dyShape(c)), 4), dyShape(c));
    const w0 = seededValues(size(c.filter), 8);
    const loss = (w: Float32Array) => tf.tidy(() => tf.sum(tf.mul(tf.conv2d(x, tf.tensor4d(w, c.filter), c.strides, c.pad), dy)));
    const grad = await filterGradient(c, (await x.data()) as Float32Array, (await dy.data()) as Float32Array);
    const h = 1e-2;
    for (const k of [0, 7, 19, size(c.filter) - 1]) {
      const plus = Float32Array.from(w0);
      const minus = Float32Array.from(w0);
      plus[k] = (plus[k] as number) + h;
      minus[k] = (minus[k] as number) - h;
      const lp = loss(plus);
      const lm = loss(minus);
      const fd = ((await lp.data())[0]! - (await lm.data())[0]!) / (2 * h);
      tf.dispose([lp, lm]);
      expect(Math.abs(fd - grad[k]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(grad[k]!)));
    }
    tf.dispose([x, dy]);
  });

  it('leaks no tensors or backend buffers across repeated gradients on wasm', async () => {
    await onBackend('wasm', async () => {
      const c = CASES[3]!;
      const x = seededValues(size(c.x), 1);
      const dy = seededValues(size(dyShape(c)), 2);
      await filterGradient(c, x, dy);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      for (let i = 0; i < 3; i++) await filterGradient(c, x, dy);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(buffers);
    });
  });
});

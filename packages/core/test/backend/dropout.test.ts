import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DROPOUT_MASK_KERNEL, dropout, ValidationError } from '../../src/index.js';

const shape = [2, 30, 30, 8];
const n = 2 * 30 * 30 * 8;

function ramp(): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.linspace(0.5, 2, n), shape));
}

describe('dropout', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(() => {
    if (tf.getKernel(DROPOUT_MASK_KERNEL, 'cpu')) tf.unregisterKernel(DROPOUT_MASK_KERNEL, 'cpu');
  });

  it("without the backend's mask kernel: tf.dropout's inverted dropout, gradient = the mask", async () => {
    const x = ramp();
    const rate = 0.25;
    const [y, grad] = tf.tidy(() => {
      const f = (t: tf.Tensor) => tf.sum(dropout(t, rate));
      return [dropout(x, rate), tf.grad(f)(x)];
    });
    const [xs, ys, gs] = await Promise.all([x.data(), y!.data(), grad!.data()]);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (ys[i] !== 0) {
        kept++;
        expect(ys[i]).toBeCloseTo(xs[i]! / (1 - rate), 5);
      }
      // Each call draws afresh, so the gradient's mask is its own: 0 or 1/keep.
      expect([0, 1 / (1 - rate)].some((v) => Math.abs(gs[i]! - v) < 1e-6)).toBe(true);
    }
    expect(Math.abs(kept - n * 0.75)).toBeLessThan(6 * Math.sqrt(n * 0.75 * 0.25));
    tf.dispose([x, y!, grad!]);
  });

  it("with the backend's mask kernel: x times that mask, one draw, and its gradient is the mask", async () => {
    // A deterministic stand-in for the backend's draw: every third element dropped.
    let calls = 0;
    tf.registerKernel({
      kernelName: DROPOUT_MASK_KERNEL,
      backendName: 'cpu',
      kernelFunc: ({ attrs, backend }) => {
        calls++;
        const { shape: maskShape, keepProb } = attrs as unknown as { shape: number[]; keepProb: number };
        const size = maskShape.reduce((a, b) => a * b, 1);
        const values = Float32Array.from({ length: size }, (_, i) => (i % 3 === 0 ? 0 : 1 / keepProb));
        const dataId = (backend as tf.KernelBackend).write(values, maskShape, 'float32');
        return { dataId, shape: maskShape, dtype: 'float32' };
      },
    });
    const x = ramp();
    const before = tf.memory().numTensors;
    const { value, grad: grads } = tf.tidy(() => tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.5), t)))(x));
    expect(calls).toBe(1);
    const [xs, gs] = await Promise.all([x.data(), grads.data()]);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const mask = i % 3 === 0 ? 0 : 2;
      expected += mask * xs[i]! * xs[i]!;
      // d/dx Σ m·x² = 2·m·x.
      expect(gs[i]).toBeCloseTo(2 * mask * xs[i]!, 4);
    }
    expect((await value.data())[0]).toBeCloseTo(expected, -1);
    tf.dispose([value, grads]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('refuses a rate outside [0, 1)', () => {
    const x = tf.ones([2, 2]);
    for (const rate of [-0.1, 1, Number.NaN]) expect(() => dropout(x, rate)).toThrow(ValidationError);
    x.dispose();
  });
});

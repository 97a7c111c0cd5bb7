import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installLeanSaves } from '../../src/backend/kernels/lean-saves.js';
import { selectBackend } from '../../src/index.js';
import { maxErrorFromClosedForm } from '../helpers/numeric.js';

/** Kernel names run by `f`, in order. */
async function kernelsOf(f: () => void): Promise<string[]> {
  const profile = await tf.profile(f);
  return profile.kernels.map((kernel) => kernel.name);
}

describe('lean saves (first-order passes save by reference, not through Identity)', () => {
  beforeAll(async () => {
    await selectBackend({ force: 'cpu' }); // installs them, as initBackend does
    expect(installLeanSaves()).toBe(true);
  });

  it('a first-order gradient runs no Identity kernel, and its value is the closed form', async () => {
    const x = tf.linspace(-2, 2, 64);
    // Mul saves both inputs, Sin its input, a custom gradient what it names: 5 saved tensors.
    const withCustom = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [a, save] = args as [tf.Tensor, tf.GradSaveFunc];
      save([a]);
      return { value: tf.square(a), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(saved[0]!, 2)) };
    });
    const f = (t: tf.Tensor) => tf.sum(tf.add(tf.mul(tf.sin(t), t), withCustom(t) as tf.Tensor));
    let g: tf.Tensor | undefined;
    const kernels = await kernelsOf(() => {
      g = tf.grad(f)(x);
    });
    expect(kernels).toContain('Sin');
    expect(kernels.filter((name) => name === 'Identity')).toEqual([]);
    // d/dx (x sin x + x²) = sin x + x cos x + 2x
    expect(await maxErrorFromClosedForm(g!, await x.data(), (v) => Math.sin(v) + v * Math.cos(v) + 2 * v)).toBeLessThan(1e-5);
    tf.dispose([x, g!]);
  });

  it('repeated first-order gradients hold no tensor and no buffer afterwards', () => {
    const x = tf.linspace(-1, 1, 32);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.exp(t), t));
    tf.dispose(tf.grad(f)(x)); // warm-up
    const before = tf.memory();
    for (let i = 0; i < 5; i++) tf.dispose(tf.grad(f)(x));
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    x.dispose();
  });

  it('a second-order gradient still flows through what the inner pass saved', async () => {
    // Mul's gradient reads its saved inputs: d²/dx² Σ x³ = 6x only if the outer pass reaches x
    // through them, which needs tfjs's clone (a tape node) while two tapes record.
    const x = tf.linspace(-2, 2, 16);
    const cube = (t: tf.Tensor) => tf.sum(tf.mul(tf.mul(t, t), t));
    let second: tf.Tensor | undefined;
    const kernels = await kernelsOf(() => {
      second = tf.grad((t: tf.Tensor) => tf.sum(tf.grad(cube)(t)))(x);
    });
    expect(kernels).toContain('Identity');
    expect(await maxErrorFromClosedForm(second!, await x.data(), (v) => 6 * v)).toBeLessThan(1e-4);
    tf.dispose([x, second!]);
  });

  it('a variable saved for a gradient keeps its value after the step assigns it a new one', async () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const x = tf.tensor1d([4, 5, 6]);
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(w, x)), [w]);
    w.assign(tf.tensor1d([0, 0, 0]));
    expect(Array.from(await grads[w.name]!.data())).toEqual([4, 5, 6]);
    tf.dispose([w, x, grads[w.name]!, value]);
  });
});

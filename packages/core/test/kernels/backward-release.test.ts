import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installBackwardRelease } from '../../src/backend/kernels/backward-release.js';
import { selectBackend } from '../../src/index.js';
import { maxErrorFromClosedForm } from '../helpers/numeric.js';

const SIZE = 10_000; // floats per tensor
const BYTES = SIZE * 4;

function ramp(): tf.Tensor {
  return tf.tidy(() => tf.linspace(-2, 2, SIZE));
}

describe('backward release (first-order passes free as they go)', () => {
  beforeAll(async () => {
    await selectBackend({ force: 'cpu' }); // installs it, as initBackend does
    expect(installBackwardRelease()).toBe(true);
  });

  it("a chain of 30 ops: when the pass reaches its first op, the others' saved inputs and gradients are gone", async () => {
    const x = ramp();
    // The first op of the chain records what is held when its gradient runs (last in the pass).
    let heldBuffers = Number.NaN;
    const probe = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const a = args[0] as tf.Tensor;
      return {
        value: a.clone(),
        gradFunc: (dy: tf.Tensor) => {
          heldBuffers = (tf.memory().numBytes - baseline) / BYTES;
          return tf.mul(dy, 1);
        },
      };
    });
    const chain = (t: tf.Tensor) => {
      let y = probe(t) as tf.Tensor;
      for (let i = 0; i < 30; i++) y = tf.sin(y); // Sin keeps its input for the backward pass
      return tf.sum(y);
    };
    const baseline = tf.memory().numBytes;
    const g = tf.grad(chain)(x);
    // tfjs alone still holds the 30 saved inputs and the 30 gradients there (≥ 60 buffers).
    expect(heldBuffers).toBeLessThan(5);
    // The gradient is still right: d/dx of sin∘…∘sin is the product of cosines along the chain.
    const expected = (v: number) => {
      let product = 1;
      for (let i = 0; i < 30; i++) {
        product *= Math.cos(v);
        v = Math.sin(v);
      }
      return product;
    };
    expect(await maxErrorFromClosedForm(g, await x.data(), expected)).toBeLessThan(1e-5);
    g.dispose();
    expect(tf.memory().numBytes).toBe(baseline);
    x.dispose();
  });

  it("leaves the caller's dy alone", async () => {
    const x = ramp();
    const dy = tf.fill([SIZE], 3);
    const g = tf.grad((t: tf.Tensor) => tf.sin(tf.sin(t)))(x, dy);
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(await dy.data()).every((v) => v === 3)).toBe(true);
    const xs = await x.data();
    expect(await maxErrorFromClosedForm(g, xs, (v) => 3 * Math.cos(Math.sin(v)) * Math.cos(v))).toBeLessThan(1e-5);
    tf.dispose([x, dy, g]);
  });

  it('keeps a gradient that a custom op passes through unchanged, which may be the result', async () => {
    const x = ramp();
    const passThrough = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const a = args[0] as tf.Tensor;
      return { value: a.clone(), gradFunc: (dy: tf.Tensor) => dy };
    });
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.sin(passThrough(t) as tf.Tensor)))(x);
    // Another pass, whose first node would free what the last one left if it were not kept.
    tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(x).dispose();
    expect(g.isDisposed).toBe(false);
    expect(await maxErrorFromClosedForm(g, await x.data(), Math.cos)).toBeLessThan(1e-6);
    tf.dispose([x, g]);
  });

  it('second-order passes (a tape recording the backward pass) keep what they need', async () => {
    const x = ramp();
    const f = (t: tf.Tensor) => tf.sum(tf.square(tf.sin(t)));
    // d/dx sin²x = sin 2x; d/dx Σ sin 2x = 2 cos 2x.
    const second = tf.grad((t: tf.Tensor) => tf.sum(tf.grad(f)(t)))(x);
    expect(await maxErrorFromClosedForm(second, await x.data(), (v) => 2 * Math.cos(2 * v))).toBeLessThan(1e-4);
    tf.dispose([x, second]);
  });
});

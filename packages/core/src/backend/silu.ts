import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel, SILU_GRAD_KERNEL, SILU_KERNEL } from './fused-kernels.js';

/**
 * SiLU (swish), x·σ(x). One backend kernel where the backend registers `SILU_KERNEL` (LibTorch's
 * silu, whose gradient is one silu_backward), otherwise tfjs's Sigmoid and Mul. Differentiable
 * to every order either way (the fused kernels' gradients register themselves on first use; tfjs's
 * Sigmoid needs `registerSecondOrderGradients`, which `initBackend` runs).
 */
export function silu(x: tf.Tensor): tf.Tensor {
  if (hasFusedKernel(SILU_KERNEL)) {
    // A backend set without initBackend (tf.setBackend('torch')) must still train.
    if (tf.getGradient(SILU_KERNEL) === undefined) for (const config of SILU_GRADIENTS) tf.registerGradient(config);
    return tf.engine().runKernel(SILU_KERNEL, { x }) as tf.Tensor;
  }
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** dy·σ(x)·(1 + x·(1 − σ(x))): one `SILU_GRAD_KERNEL` where the backend has it. */
export function siluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (hasFusedKernel(SILU_GRAD_KERNEL)) return tf.engine().runKernel(SILU_GRAD_KERNEL, { dy, x }) as tf.Tensor;
  return tf.tidy(() => tf.mul(dy, siluDerivative(x)));
}

/** σ(x)·(1 + x·(1 − σ(x))), the derivative of x·σ(x). */
function siluDerivative(x: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(x);
  return tf.mul(s, tf.add(1, tf.mul(x, tf.sub(1, s))));
}

/** σ(x)·(1 − σ(x))·(2 + x·(1 − 2σ(x))), the second derivative of x·σ(x). */
function siluSecondDerivative(x: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(x);
  return tf.mul(tf.mul(s, tf.sub(1, s)), tf.add(2, tf.mul(x, tf.sub(1, tf.mul(2, s)))));
}

/**
 * The gradients of the two fused kernels. `SILU_GRAD_KERNEL`'s own gradient is written in tfjs
 * ops, so a gradient of a gradient (score matching through a UNet or an energy net on LibTorch)
 * is exact rather than failing for want of one.
 */
export const SILU_GRADIENTS: readonly tf.GradConfig[] = [
  {
    kernelName: SILU_KERNEL,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => siluGrad(dy as tf.Tensor, saved[0] as tf.Tensor) }),
  },
  {
    kernelName: SILU_GRAD_KERNEL,
    inputsToSave: ['dy', 'x'],
    gradFunc: (ddx, saved) => {
      const [dy, x] = saved as [tf.Tensor, tf.Tensor];
      return {
        dy: () => tf.mul(ddx as tf.Tensor, siluDerivative(x)),
        x: () => tf.mul(tf.mul(ddx as tf.Tensor, dy), siluSecondDerivative(x)),
      };
    },
  },
];

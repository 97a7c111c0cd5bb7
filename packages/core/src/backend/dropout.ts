import * as tf from '@tensorflow/tfjs-core';
import { ValidationError } from '../errors.js';
import { DROPOUT_MASK_KERNEL, hasFusedKernel } from './fused-kernels.js';

/**
 * Inverted dropout: x·m, m = Bernoulli(1 − rate)/(1 − rate), so E[x·m] = x. Where the backend
 * registers `DROPOUT_MASK_KERNEL` (LibTorch) the mask is drawn there, on the device; otherwise
 * `tf.dropout` draws it in JavaScript and uploads it, which held the GPU back in the models with
 * dropout (docs/gpu.md). Unseeded either way, like `tf.dropout`.
 */
export function dropout(x: tf.Tensor, rate: number): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new ValidationError(`dropout rate must be in [0, 1), got ${rate}`);
  if (!hasFusedKernel(DROPOUT_MASK_KERNEL)) return tf.dropout(x, rate);
  const keepProb = 1 - rate;
  return tf.tidy(() => {
    const mask = tf.engine().runKernel(DROPOUT_MASK_KERNEL, {}, { shape: [...x.shape], keepProb }) as tf.Tensor;
    return tf.mul(x, mask);
  });
}

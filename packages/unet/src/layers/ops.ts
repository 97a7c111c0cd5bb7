import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/** SiLU (swish): `x · σ(x)`. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/**
 * Group normalisation of an NHWC tensor: the channels are split into `groups` groups and each
 * (sample, group) is normalised over H, W and the group's channels, then scaled by `gamma` and
 * shifted by `beta` (both `[C]`).
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon: number): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  if (channels % groups !== 0) throw new ValidationError(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
  return tf.tidy(() => {
    // Rank 4 [B, HW, G, C/G] rather than rank 5: every backend handles it well.
    const grouped = tf.reshape(x, [batch, height * width, groups, channels / groups]);
    const { mean, variance } = tf.moments(grouped, [1, 3], true);
    const normalised = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(tf.reshape(normalised, x.shape), gamma), beta) as tf.Tensor4D;
  });
}

/**
 * Nearest-neighbour ×2 upsampling of an NHWC tensor, built from concat + reshape so that its
 * gradient (slices and reshapes) is right on every backend. tfjs-backend-cpu 4.22's
 * `ResizeNearestNeighborGrad` is wrong for batch > 1, so `tf.image.resizeNearestNeighbor`
 * must not be used in trainable code.
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  return tf.tidy(() => {
    // [B,H,W,C] → each pixel twice along W: concat on C then read the 2C values as two pixels.
    const wide = tf.reshape(tf.concat([x, x], 3), [batch, height, 2 * width, channels]);
    // Each row twice: concat along W then read the 4W pixels as two rows.
    return tf.reshape(tf.concat([wide, wide], 2), [batch, 2 * height, 2 * width, channels]) as tf.Tensor4D;
  });
}

/** How {@link scaledDotProductAttention} multiplies its matrices. */
export type AttentionStrategy = 'batched' | 'sliced';

/**
 * `softmax(q·kᵀ/√d)·v` for `q, k, v` of shape `[N, L, d]` (N = batch × heads).
 *
 * `batched` uses one rank-3 matMul per product; `sliced` loops over N with plain 2-D matMuls and
 * explicit transposes, which map to XNNPACK on the wasm backend, where batched and
 * transposed matMuls take a slow path.
 */
export function scaledDotProductAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, strategy: AttentionStrategy): tf.Tensor3D {
  const scale = 1 / Math.sqrt(q.shape[2]);
  return tf.tidy(() => {
    if (strategy === 'batched') {
      const weights = tf.softmax(tf.mul(tf.matMul(q, tf.transpose(k, [0, 2, 1])), scale));
      return tf.matMul(weights, v) as tf.Tensor3D;
    }
    const qs = tf.unstack(q);
    const ks = tf.unstack(k);
    const vs = tf.unstack(v);
    const outputs = qs.map((qi, i) => {
      const weights = tf.softmax(tf.mul(tf.matMul(qi as tf.Tensor2D, tf.transpose(ks[i]! as tf.Tensor2D)), scale));
      return tf.matMul(weights, vs[i]! as tf.Tensor2D);
    });
    return tf.stack(outputs) as tf.Tensor3D;
  });
}

/** The attention strategy that suits the active backend. */
export function defaultAttentionStrategy(): AttentionStrategy {
  return tf.getBackend() === 'wasm' ? 'sliced' : 'batched';
}

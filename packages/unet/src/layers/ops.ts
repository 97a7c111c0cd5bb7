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
    const normalised = standardiseGroups(grouped, tf.scalar(epsilon));
    return tf.add(tf.mul(tf.reshape(normalised, x.shape), gamma), beta) as tf.Tensor4D;
  });
}

/**
 * x̂ = (x − μ)/√(σ² + ε) over axes 1 and 3 of `[B, L, G, Cg]`, with the closed-form gradient
 * dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)) / √(σ² + ε): half the kernels of autodiff through
 * `tf.moments`, which matters on wasm where GroupNorm costs about as much as a conv.
 */
const standardiseGroups = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, epsilon, save] = args as [tf.Tensor4D, tf.Scalar, tf.GradSaveFunc];
  const { mean, variance } = tf.moments(x, [1, 3], true);
  const invStd = tf.rsqrt(tf.add(variance, epsilon));
  const xHat = tf.mul(tf.sub(x, mean), invStd);
  save([xHat, invStd]);
  return {
    value: xHat,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sHat, sInv] = saved as [tf.Tensor, tf.Tensor];
      const meanDy = tf.mean(dy, [1, 3], true);
      const meanDyHat = tf.mean(tf.mul(dy, sHat), [1, 3], true);
      return [tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(sHat, meanDyHat)), sInv), tf.zerosLike(epsilon)];
    },
  };
});

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

/**
 * `a · b` for 2-D tensors whose gradient also uses only untransposed matMuls. On the wasm
 * backend a matMul with a transpose flag leaves XNNPACK for a loop 5–7× slower, and tfjs's
 * own matMul gradient sets those flags; elsewhere this is plain `tf.matMul`.
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? (plainGradMatMul(a, b) as tf.Tensor2D) : tf.matMul(a, b);
}

const plainGradMatMul = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
});

/** `a · b + bias` (bias broadcast over rows) built on {@link matMul2d}. */
export function dense(a: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => tf.add(matMul2d(a, kernel), bias));
}

/**
 * Stride-1 'same' 2-D convolution (odd kernel, NHWC) plus bias. On wasm its input gradient is
 * a forward conv with the flipped, in/out-swapped kernel instead of the stock
 * `Conv2DBackpropInput` kernel, which is ~8× slower than a forward conv there; the filter
 * gradient is the registered `Conv2DBackpropFilter` kernel. Elsewhere (including cpu, whose
 * stock kernel is faster than its forward conv) it is `tf.fused.conv2d`.
 */
export function conv2dSame(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  if (tf.getBackend() === 'wasm') return convWithForwardGrads(x, filter, bias) as tf.Tensor4D;
  return tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same' });
}

const convWithForwardGrads = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, filter, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, filter]);
  return {
    value: tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same' }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
      // Correlating dy with the kernel rotated 180° and with in/out channels swapped is the
      // transpose of a stride-1 'same' conv when the kernel size is odd (symmetric padding).
      const flipped = tf.transpose(tf.reverse(sFilter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
      const dx = tf.conv2d(dy as tf.Tensor4D, flipped, 1, 'same');
      const dFilter = tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x: sx, dy },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: sFilter.shape },
        ) as tf.Tensor;
      return [dx, dFilter, tf.sum(dy, [0, 1, 2])];
    },
  };
});

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
      const weights = tf.softmax(tf.mul(matMul2d(qi as tf.Tensor2D, tf.transpose(ks[i]! as tf.Tensor2D)), scale)) as tf.Tensor2D;
      return matMul2d(weights, vs[i]! as tf.Tensor2D);
    });
    return tf.stack(outputs) as tf.Tensor3D;
  });
}

/** The attention strategy that suits the active backend. */
export function defaultAttentionStrategy(): AttentionStrategy {
  return tf.getBackend() === 'wasm' ? 'sliced' : 'batched';
}

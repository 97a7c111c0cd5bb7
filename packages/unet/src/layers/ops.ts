import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, hasFusedKernel, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/** SiLU (swish), x·σ(x): `@lab/core`'s op (one LibTorch kernel where available), re-exported for the layers. */
/** Inverted dropout: `@lab/core`'s op (the mask drawn by LibTorch on its device where available). */
export { dropout, silu } from '@lab/core';

/**
 * Group normalisation of an NHWC tensor: the channels are split into `groups` groups and each
 * (sample, group) is normalised over H, W and the group's channels, then scaled by `gamma` and
 * shifted by `beta` (both `[C]`).
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon: number): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  if (channels % groups !== 0) throw new ValidationError(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
  if (hasFusedKernel(GROUP_NORM_KERNEL)) return fusedGroupNorm(x, gamma, beta, groups, epsilon);
  return tf.tidy(() => {
    const flat = tf.reshape(x, [batch, height * width, channels]) as tf.Tensor3D;
    const y = affineGroupNorm(
      flat,
      tf.reshape(gamma, [1, 1, channels]) as tf.Tensor3D,
      tf.reshape(beta, [1, 1, channels]) as tf.Tensor3D,
      groups,
      epsilon,
    );
    return tf.reshape(y, x.shape) as tf.Tensor4D;
  });
}

/**
 * True while a gradient is being taken of a gradient (score matching, gradient penalties): the
 * backward pass runs inside an outer tape, tfjs's own test for "higher-order gradients". Group
 * norm's backward then recomputes its statistics from x with plain ops, so that the outer tape
 * sees how they depend on x; saved statistics, or a fused gradient kernel, would be constants there.
 */
function differentiatingTwice(): boolean {
  return (tf.engine().state as { gradientDepth: number }).gradientDepth > 0;
}

/**
 * Group norm's gradient from x itself, in plain ops (differentiable again): for `[B, H, W, C]`
 * dy and x and a `[C]` gamma, [dx, dγ, dβ] as the fused kernel returns them.
 */
function recomputedGroupNormGradient(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, groups: number, epsilon: number): tf.Tensor[] {
  const [batch, height, width, channels] = x.shape as [number, number, number, number];
  const flat = (t: tf.Tensor) => tf.reshape(t, [batch, height * width, channels]) as tf.Tensor3D;
  const x3 = flat(x);
  const { mean, invStd } = groupStatistics(x3, tf.scalar(epsilon), groups, true);
  const [dx, dGamma, dBeta] = affineGroupNormGradient(
    flat(dy),
    x3,
    tf.reshape(gamma, [1, 1, channels]) as tf.Tensor3D,
    mean,
    invStd,
    groups,
  );
  return [tf.reshape(dx, x.shape), tf.reshape(dGamma, [channels]), tf.reshape(dBeta, [channels])];
}

/** customGrad takes tensors only, so there is one op per (groups, epsilon). */
const fusedGroupNormOps = new Map<string, (...inputs: tf.Tensor[]) => tf.Tensor>();

/** Group norm as the backend's own kernel and its gradient (e.g. LibTorch's native_group_norm). */
function fusedGroupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, epsilon: number): tf.Tensor4D {
  const key = `${groups}/${epsilon}`;
  let op = fusedGroupNormOps.get(key);
  if (!op) {
    op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [input, scale, shift, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const attrs = { groups, epsilon } as unknown as tf.NamedAttrMap;
      const [y, mean, rstd] = tf.engine().runKernel(GROUP_NORM_KERNEL, { x: input, gamma: scale, beta: shift }, attrs) as tf.Tensor[];
      save([input, scale, mean as tf.Tensor, rstd as tf.Tensor]);
      return {
        value: y as tf.Tensor,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sGamma, sMean, sRstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          if (differentiatingTwice()) return recomputedGroupNormGradient(dy, sx, sGamma, groups, epsilon);
          const inputs = { dy, x: sx, mean: sMean, rstd: sRstd, gamma: sGamma };
          return tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, inputs, { groups } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        },
      };
    });
    fusedGroupNormOps.set(key, op);
  }
  return op(x, tf.reshape(gamma, [-1]), tf.reshape(beta, [-1])) as tf.Tensor4D;
}

/**
 * Σ over axis 1 of `[B, L, C]`, kept as `[B, 1, C]`. On wasm a batched matMul with a row of ones:
 * its `Sum` over a middle axis transposes the whole tensor first and is ~10× slower.
 */
function sumOverLength(t: tf.Tensor3D): tf.Tensor3D {
  if (tf.getBackend() !== 'wasm') return tf.sum(t, 1, true);
  const [batch, length] = t.shape;
  return tf.tidy(() => tf.matMul(tf.ones([batch, 1, length]) as tf.Tensor3D, t));
}

/** Σ over every axis but the last, as `[C]` (a conv's bias gradient); on wasm a matMul with a row of ones. */
function sumOverLeading(t: tf.Tensor): tf.Tensor1D {
  const channels = t.shape[t.rank - 1] as number;
  if (tf.getBackend() !== 'wasm') return tf.sum(t, [...Array(t.rank - 1).keys()]) as tf.Tensor1D;
  const rows = t.size / channels;
  return tf.tidy(() =>
    tf.reshape(tf.matMul(tf.ones([1, rows]) as tf.Tensor2D, tf.reshape(t, [rows, channels]) as tf.Tensor2D), [channels]),
  );
}

/**
 * Per-(sample, group) mean and 1/√(σ² + ε) of `[B, L, C]`, each broadcast to `[B, 1, C]`.
 * `differentiable`: built from ops whose gradients are right (tfjs 4.22's SquaredDifference
 * gradient does not reduce over broadcast axes), for the backward pass of a second-order gradient.
 */
function groupStatistics(
  x: tf.Tensor3D,
  epsilon: tf.Scalar,
  groups: number,
  differentiable = false,
): { mean: tf.Tensor3D; invStd: tf.Tensor3D } {
  const [batch, length, channels] = x.shape;
  const grouped = tf.reshape(x, [batch, length, groups, channels / groups]);
  const mean = tf.mean(grouped, [1, 3], true);
  const deviation = differentiable ? tf.square(tf.sub(grouped, mean)) : tf.squaredDifference(grouped, mean);
  const variance = tf.mean(deviation, [1, 3], true);
  const perChannel = (t: tf.Tensor) => tf.reshape(tf.tile(t, [1, 1, 1, channels / groups]), [batch, 1, channels]) as tf.Tensor3D;
  return { mean: perChannel(mean), invStd: perChannel(tf.rsqrt(tf.add(variance, epsilon))) };
}

/** Σ over the groups' channels of `[B, 1, C]`, divided by `count` and broadcast back to `[B, 1, C]`. */
function groupMean(t: tf.Tensor3D, groups: number, count: number): tf.Tensor3D {
  const [batch, , channels] = t.shape;
  const summed = tf.sum(tf.reshape(t, [batch, 1, groups, channels / groups]), 3, true);
  return tf.reshape(tf.tile(tf.div(summed, count), [1, 1, 1, channels / groups]), t.shape) as tf.Tensor3D;
}

/**
 * y = γ·(x − μ)/σ + β on `[B, L, C]`, computed as y = x·a + b with per-(sample, channel)
 * a = γ/σ and b = β − μ·a, so every full-size op broadcasts a contiguous `[B, 1, C]` row.
 * Its gradient is closed-form in the same shape:
 *
 *     dx = a·dy + x·p + q,   p = −m₂/σ²,   q = (μ·m₂/σ − m₁)/σ     (per sample and group)
 *     m₁ = mean_group(γ·Σ_L dy),   m₂ = mean_group(γ·(Σ_L dy·x − μ·Σ_L dy)/σ)
 *     dγ = Σ_{B,L} dy·x̂,   dβ = Σ_{B,L} dy
 *
 * (mean_group averages over the L·C/G elements of a group). Seven full-size passes forward and
 * back instead of the ~19 of autodiff through `tf.moments`; on wasm GroupNorm costs about as
 * much as a convolution, and there broadcasts over an inner axis of C/G elements are slow.
 */
function affineGroupNorm(x: tf.Tensor3D, gamma: tf.Tensor3D, beta: tf.Tensor3D, groups: number, epsilon: number): tf.Tensor3D {
  const key = `${groups}/${epsilon}`;
  let op = affineGroupNormOps.get(key);
  if (!op) {
    op = createAffineGroupNorm(groups, epsilon);
    affineGroupNormOps.set(key, op);
  }
  return op(x, gamma, beta) as tf.Tensor3D;
}

/** customGrad takes tensors only, so there is one op per (groups, epsilon). */
const affineGroupNormOps = new Map<string, (...inputs: tf.Tensor[]) => tf.Tensor>();

const createAffineGroupNorm = (groups: number, epsilon: number) =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, gamma, beta, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    const { mean, invStd } = groupStatistics(x, tf.scalar(epsilon), groups);
    const scale = tf.mul(invStd, gamma);
    const shift = tf.sub(beta, tf.mul(mean, scale));
    save([x, gamma, mean, invStd]);
    return {
      value: tf.add(tf.mul(x, scale), shift),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sGamma, sMean, sInvStd] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const statistics = differentiatingTwice()
          ? groupStatistics(sx, tf.scalar(epsilon), groups, true)
          : { mean: sMean, invStd: sInvStd };
        return affineGroupNormGradient(dy as tf.Tensor3D, sx, sGamma, statistics.mean, statistics.invStd, groups);
      },
    };
  });

/** The closed form above: [dx, dγ, dβ] of y = x·a + b on `[B, L, C]`, dγ and dβ as `[1, 1, C]`. */
function affineGroupNormGradient(
  dy: tf.Tensor3D,
  x: tf.Tensor3D,
  gamma: tf.Tensor3D,
  mean: tf.Tensor3D,
  invStd: tf.Tensor3D,
  groups: number,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [, length, channels] = x.shape;
  const count = (length * channels) / groups;
  const sumDy = sumOverLength(dy); // Σ_L dy
  const sumDyX = sumOverLength(tf.mul(dy, x) as tf.Tensor3D); // Σ_L dy·x
  const sumDyXHat = tf.mul(tf.sub(sumDyX, tf.mul(mean, sumDy)), invStd); // Σ_L dy·x̂
  const m1 = groupMean(tf.mul(gamma, sumDy) as tf.Tensor3D, groups, count);
  const m2 = groupMean(tf.mul(gamma, sumDyXHat) as tf.Tensor3D, groups, count);
  const a = tf.mul(invStd, gamma);
  const p = tf.neg(tf.mul(m2, tf.square(invStd)));
  const q = tf.mul(tf.sub(tf.mul(tf.mul(mean, m2), invStd), m1), invStd);
  const dx = tf.add(tf.add(tf.mul(dy, a), tf.mul(x, p)), q);
  return [dx, tf.sum(sumDyXHat, 0, true), tf.sum(sumDy, 0, true)];
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
 * Stride-1 'same' 2-D convolution (odd kernel, NHWC) plus bias, whose backward pass keeps only
 * x and the filter. On wasm its input gradient is a forward conv with the flipped, in/out-swapped
 * kernel instead of the stock `Conv2DBackpropInput` kernel, which is ~8× slower than a forward
 * conv there; elsewhere (including cpu, whose stock kernel is faster than its forward conv) it is
 * that kernel. The filter gradient is the registered `Conv2DBackpropFilter` kernel everywhere.
 */
export function conv2dSame(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const conv = tf.getBackend() === 'wasm' ? convWithForwardInputGradient : convWithStockInputGradient;
  return conv(x, filter, bias) as tf.Tensor4D;
}

type InputGradient = (dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number]) => tf.Tensor;

/**
 * `tf.fused.conv2d` (stride 1, 'same', bias) whose backward pass keeps only x and the filter, with
 * its input gradient computed by `inputGradient`. tfjs's fused convolution also keeps its output,
 * which a linear convolution's gradient never reads, so every convolution output of a UNet stayed
 * alive until the backward pass.
 */
function convKeepingInput(inputGradient: InputGradient) {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, filter, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    save([x, filter]);
    return {
      value: tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same' }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dFilter = tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x: sx, dy },
            { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: sFilter.shape },
          ) as tf.Tensor;
        return [inputGradient(dy as tf.Tensor4D, sFilter, sx.shape), dFilter, sumOverLeading(dy)];
      },
    };
  });
}

const convWithStockInputGradient = convKeepingInput((dy, filter, inputShape) => tf.conv2dTranspose(dy, filter, inputShape, 1, 'same'));

// Correlating dy with the kernel rotated 180° and with in/out channels swapped is the transpose
// of a stride-1 'same' conv when the kernel size is odd (symmetric padding).
const convWithForwardInputGradient = convKeepingInput((dy, filter) =>
  tf.conv2d(dy, tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, 'same'),
);

/**
 * `a + b` (b broadcast to a's shape, e.g. a per-channel `[B, 1, 1, C]` term) whose backward pass
 * keeps nothing: tfjs's Add keeps both inputs only to read their shapes, which kept the
 * convolution outputs of every residual block alive until the backward pass.
 */
export function addKeepingNothing(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return addWithoutSaves(a, b);
}

const addWithoutSaves = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b] = args as [tf.Tensor, tf.Tensor];
  const shapes = [a.shape, b.shape];
  return {
    value: tf.add(a, b),
    gradFunc: (dy: tf.Tensor) => shapes.map((shape) => sumToShape(dy, shape)),
  };
});

/** `dy` summed over the axes along which a tensor of `shape` was broadcast to dy's shape. */
function sumToShape(dy: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, shape);
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
    // One row goes through reshapes: tf.unstack of it has a single output, and tfjs's engine then
    // hands Unpack's gradient that lone tensor instead of a list, which its stack rejects (a
    // batch-1 request to an energy model, which differentiates through attention, failed on wasm).
    const single = q.shape[0] === 1;
    const rows = (t: tf.Tensor3D) => (single ? [tf.reshape(t, [t.shape[1], t.shape[2]])] : tf.unstack(t)) as tf.Tensor2D[];
    const [qs, ks, vs] = [rows(q), rows(k), rows(v)];
    const outputs = qs.map((qi, i) => {
      const weights = tf.softmax(tf.mul(matMul2d(qi, tf.transpose(ks[i] as tf.Tensor2D)), scale)) as tf.Tensor2D;
      return matMul2d(weights, vs[i] as tf.Tensor2D);
    });
    return (single ? tf.expandDims(outputs[0] as tf.Tensor2D, 0) : tf.stack(outputs)) as tf.Tensor3D;
  });
}

/** The attention strategy that suits the active backend. */
export function defaultAttentionStrategy(): AttentionStrategy {
  return tf.getBackend() === 'wasm' ? 'sliced' : 'batched';
}

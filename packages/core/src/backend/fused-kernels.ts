/**
 * Kernels a backend may register to run a whole layer in one call. genlab's ops check for them
 * (`hasFusedKernel`) and otherwise compose tfjs ops; `@lab/backend-torch` registers them with
 * LibTorch's own implementations.
 */
import { getBackend, getKernel } from '@tensorflow/tfjs-core';

/**
 * Group normalisation of an NHWC `x` with per-channel `gamma` and `beta` (attrs `groups`,
 * `epsilon`). Outputs: y (like x), and the per-(sample, group) mean and 1/√(σ² + ε), `[B, G]`.
 */
export const GROUP_NORM_KERNEL = 'GenlabGroupNorm';

/**
 * The gradient of `GROUP_NORM_KERNEL`: inputs `dy`, `x`, `mean`, `rstd`, `gamma` (attrs `groups`);
 * outputs dx, dγ, dβ.
 */
export const GROUP_NORM_GRAD_KERNEL = 'GenlabGroupNormGrad';

/** SiLU, x·σ(x), of `x` (one output). */
export const SILU_KERNEL = 'GenlabSilu';

/** The gradient of `SILU_KERNEL`: inputs `dy`, `x`; output dx = dy·σ(x)·(1 + x·(1 − σ(x))). */
export const SILU_GRAD_KERNEL = 'GenlabSiluGrad';

/**
 * A convolution layer in one kernel: act(conv2d(x, filter) + bias) for an NHWC `x`, a
 * `[kh, kw, in, out]` filter and an `[out]` bias (attrs `strides` [sh, sw], `pad` 'same' | 'valid',
 * `activation` 'linear' | 'silu'). One output, y. While a gradient tape records, the backend keeps
 * what its gradient kernel needs (the pre-activation) with y's data.
 */
export const CONV2D_BIAS_ACTIVATION_KERNEL = 'GenlabConv2DBiasActivation';

/**
 * The gradient of `CONV2D_BIAS_ACTIVATION_KERNEL`: inputs `dy`, `x`, `filter` and its output `y`
 * (the attrs of the forward kernel); outputs dx, dfilter, dbias.
 */
export const CONV2D_BIAS_ACTIVATION_GRAD_KERNEL = 'GenlabConv2DBiasActivationGrad';

/** A dense layer in one kernel: act(x·kernel + bias) for `x` [B, F], `kernel` [F, U], `bias` [U] (attr `activation`). */
export const DENSE_BIAS_ACTIVATION_KERNEL = 'GenlabDenseBiasActivation';

/** The gradient of `DENSE_BIAS_ACTIVATION_KERNEL`: inputs `dy`, `x`, `kernel`, `y`; outputs dx, dkernel, dbias. */
export const DENSE_BIAS_ACTIVATION_GRAD_KERNEL = 'GenlabDenseBiasActivationGrad';

/**
 * An inverted-dropout multiplier of shape `attrs.shape` (no inputs): each element 1/`keepProb`
 * with probability `attrs.keepProb`, else 0, drawn by the backend where the tensor lives.
 */
export const DROPOUT_MASK_KERNEL = 'GenlabDropoutMask';

/**
 * A float32 tensor of shape `attrs.shape` (no inputs) equal to `tf.randomNormal(shape,
 * attrs.mean, attrs.stdDev, 'float32', attrs.seed)` for a non-zero seed: the same generator and
 * method, run natively (`Rng.normal` uses it where the backend registers it).
 */
export const SEEDED_NORMAL_KERNEL = 'GenlabSeededNormal';

/** Whether the active tfjs backend registers `kernelName`. */
export function hasFusedKernel(kernelName: string): boolean {
  return getKernel(kernelName, getBackend()) !== undefined;
}

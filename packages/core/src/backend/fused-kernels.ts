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

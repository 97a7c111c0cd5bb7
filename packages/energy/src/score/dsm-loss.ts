import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseConditionalEnergyFn, NoiseLevels } from './noise-conditional.js';

/** The denoising score-matching loss and a diagnostic (scalars; the caller disposes them). */
export interface ScoreMatchingLoss {
  /** mean over elements of (σ·∇ₓE(x̃, σ) − ε)²: the value to minimise. */
  readonly loss: tf.Scalar;
  /** mean ‖σ·∇ₓE‖² / dimensions: 1 − loss at the optimum; near 0 for an untrained net. */
  readonly scoreNorm: tf.Scalar;
}

/**
 * Denoising score matching (Vincent 2011) of a noise-conditional energy, NCSN's σ²-weighted form:
 * for clean x, level i and ε ~ N(0, I), x̃ = x + σᵢε and
 *   loss = mean (σᵢ·∇ₓE(x̃, σᵢ) − ε)²,
 * whose minimiser has −∇ₓE(·, σ) = the score of the data blurred by N(0, σ²): the energy's
 * gradient predicts the noise, as a diffusion model's ε-prediction does (Salimans & Ho 2021).
 * Differentiating it in the weights is a gradient of a gradient: it needs @lab/core's
 * second-order gradients (registered by initBackend).
 *
 * `levels` (int32 [B]) index `sigmas`; `noise` has the shape of `clean`. Nothing is disposed.
 */
export function denoisingScoreMatchingLoss(
  energy: NoiseConditionalEnergyFn,
  clean: tf.Tensor,
  levels: tf.Tensor1D,
  sigmas: NoiseLevels,
  noise: tf.Tensor,
): ScoreMatchingLoss {
  const batch = clean.shape[0];
  if (batch === undefined || levels.shape[0] !== batch) throw new ValidationError(`levels must be [${batch}], got [${levels.shape}]`);
  if (noise.shape.join() !== clean.shape.join()) throw new ValidationError(`noise [${noise.shape}] must match the images [${clean.shape}]`);
  return tf.tidy(() => {
    const perSample = [batch, ...clean.shape.slice(1).map(() => 1)];
    const sigma = tf.reshape(tf.gather(tf.tensor1d(sigmas as number[]), levels), perSample);
    const noisy = tf.add(clean, tf.mul(sigma, noise));
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(energy(x, levels)))(noisy);
    const predicted = tf.mul(sigma, gradient);
    const loss = tf.mean(tf.squaredDifference(predicted, noise)) as tf.Scalar;
    const scoreNorm = tf.mean(tf.square(predicted)) as tf.Scalar;
    return { loss, scoreNorm };
  });
}

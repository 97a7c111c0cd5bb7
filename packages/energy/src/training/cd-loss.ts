import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/** The contrastive-divergence loss and its parts (scalars; the caller disposes them). */
export interface ContrastiveDivergenceLoss {
  /** cdLoss + α · regularizer: the value to minimise. */
  readonly loss: tf.Scalar;
  /** mean E(x⁺) − mean E(x⁻). */
  readonly cdLoss: tf.Scalar;
  /** mean E(x⁺)² + mean E(x⁻)² (not yet multiplied by α). */
  readonly regularizer: tf.Scalar;
  readonly ePosMean: tf.Scalar;
  readonly eNegMean: tf.Scalar;
}

/**
 * Contrastive divergence for energy-based models (Du & Mordatch 2019; UvA tutorial):
 * loss = mean E(x⁺) − mean E(x⁻) + α·(mean E(x⁺)² + mean E(x⁻)²).
 * Minimising it pushes data energies E(x⁺) down and sample energies E(x⁻) up; the α term
 * keeps energies near zero so they cannot drift without bound.
 */
export function contrastiveDivergenceLoss(ePos: tf.Tensor, eNeg: tf.Tensor, alpha = 0.1): ContrastiveDivergenceLoss {
  if (!(Number.isFinite(alpha) && alpha >= 0)) throw new ValidationError(`alpha must be a finite number ≥ 0, got ${alpha}`);
  if (ePos.size === 0 || eNeg.size === 0) throw new ValidationError('contrastiveDivergenceLoss needs non-empty energies');
  return tf.tidy(() => {
    const ePosMean = tf.mean(ePos) as tf.Scalar;
    const eNegMean = tf.mean(eNeg) as tf.Scalar;
    const cdLoss = tf.sub(ePosMean, eNegMean) as tf.Scalar;
    const regularizer = tf.add(tf.mean(tf.square(ePos)), tf.mean(tf.square(eNeg))) as tf.Scalar;
    const loss = tf.add(cdLoss, tf.mul(regularizer, alpha)) as tf.Scalar;
    return { loss, cdLoss, regularizer, ePosMean, eNegMean };
  });
}

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
 *
 * The loss is one node on the gradient tape with its closed-form gradient,
 * ∂/∂E⁺ᵢ = (1 + 2αE⁺ᵢ)/n⁺ and ∂/∂E⁻ᵢ = (−1 + 2αE⁻ᵢ)/n⁻, written in tfjs ops (so a gradient of
 * it is exact too). Recorded op by op, the means, squares and sums and their gradients were
 * ~45 tiny kernels of a ~110-kernel training step of the small energy net. The parts are
 * computed alongside the loss, off the tape: nothing differentiates them.
 */
export function contrastiveDivergenceLoss(ePos: tf.Tensor, eNeg: tf.Tensor, alpha = 0.1): ContrastiveDivergenceLoss {
  if (!(Number.isFinite(alpha) && alpha >= 0)) throw new ValidationError(`alpha must be a finite number ≥ 0, got ${alpha}`);
  if (ePos.size === 0 || eNeg.size === 0) throw new ValidationError('contrastiveDivergenceLoss needs non-empty energies');
  let parts: tf.Tensor1D | undefined;
  const loss = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [pos, neg, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([pos, neg]);
    // Ops inside a customGrad's forward pass are not recorded on the tape.
    const ePosMean = tf.mean(pos);
    const eNegMean = tf.mean(neg);
    const cdLoss = tf.sub(ePosMean, eNegMean);
    const regularizer = tf.add(tf.mean(tf.square(pos)), tf.mean(tf.square(neg)));
    parts = tf.keep(tf.stack([cdLoss, regularizer, ePosMean, eNegMean]) as tf.Tensor1D);
    return {
      value: tf.add(cdLoss, tf.mul(regularizer, alpha)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [p, n] = saved as [tf.Tensor, tf.Tensor];
        return [
          tf.mul(dy, tf.add(tf.mul(p, (2 * alpha) / p.size), 1 / p.size)),
          tf.mul(dy, tf.sub(tf.mul(n, (2 * alpha) / n.size), 1 / n.size)),
        ];
      },
    };
  })(ePos, eNeg) as tf.Scalar;
  const stats = parts as tf.Tensor1D;
  // Unstacked here, so the scalars belong to the caller's scope like the loss.
  const [cdLoss, regularizer, ePosMean, eNegMean] = tf.unstack(stats) as [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar];
  stats.dispose();
  return { loss, cdLoss, regularizer, ePosMean, eNegMean };
}

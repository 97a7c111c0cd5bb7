import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { modelOutputFromX0, type PredictionType, splitPrediction } from './forward.js';

/**
 * Guidance rescale: large classifier-free guidance scales inflate the contrast of the guided
 * x̂_0 (over-saturated, burnt-looking samples). Rescaling each guided x̂_0 to the standard
 * deviation of the conditional one and blending by `factor` φ undoes that while keeping the
 * direction guidance chose (Lin et al. 2024, "Common diffusion noise schedules and sample steps
 * are flawed", §3.4, where it acts on v; diffusers applies it to ε). Here it acts on x̂_0, for
 * any prediction type: on the bundled ε-model, rescaling ε did not help and rescaling x̂_0 did
 * (docs/results.md).
 */
export interface GuidanceRescale {
  /** φ in [0, 1]: 0 is plain guidance, 1 the fully rescaled x̂_0. */
  readonly factor: number;
  readonly predictionType: PredictionType;
  /** ᾱ at the timestep of the outputs. */
  readonly alphaCumprod: number;
}

/** Checks a guidance-rescale factor φ: a number in [0, 1]. */
export function checkGuidanceRescale(factor: number): void {
  if (!(typeof factor === 'number' && factor >= 0 && factor <= 1))
    throw new ValidationError(`guidance rescale must be a number in [0, 1], got ${String(factor)}`);
}

/** Per-sample standard deviation over all but the batch axis, [B, 1, 1, 1]; never below 1e-12. */
function sampleStd(x: tf.Tensor): tf.Tensor {
  return tf.maximum(tf.sqrt(tf.moments(x, [1, 2, 3], true).variance), 1e-12);
}

/**
 * The guided model output with its x̂_0 rescaled to the per-sample standard deviation of the
 * conditional output's x̂_0 and blended by φ: x̂_0 ← φ·x̂_0·std(x̂_0,cond)/std(x̂_0) + (1 − φ)·x̂_0,
 * returned as a model output again. Call inside `tf.tidy`.
 */
export function rescaleGuidedOutput(guided: tf.Tensor4D, conditional: tf.Tensor4D, x: tf.Tensor4D, rescale: GuidanceRescale): tf.Tensor4D {
  const { factor, predictionType, alphaCumprod } = rescale;
  if (factor === 0) return guided;
  const x0Guided = splitPrediction(predictionType, guided, x, alphaCumprod, null).predictedX0;
  const x0Conditional = splitPrediction(predictionType, conditional, x, alphaCumprod, null).predictedX0;
  const rescaled = tf.mul(x0Guided, tf.div(sampleStd(x0Conditional), sampleStd(x0Guided)));
  const x0 = factor === 1 ? rescaled : tf.add(tf.mul(rescaled, factor), tf.mul(x0Guided, 1 - factor));
  return modelOutputFromX0(predictionType, x0, x, alphaCumprod) as tf.Tensor4D;
}

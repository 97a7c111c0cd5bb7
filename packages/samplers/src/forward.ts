import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from './schedule.js';

/** What the network predicts: the noise ε (Ho et al.), the velocity v (Salimans & Ho), or x_0 itself. */
export type PredictionType = 'epsilon' | 'v' | 'sample';

function checkSameShape(what: string, a: tf.Tensor, b: tf.Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ValidationError(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
}

/**
 * Gathers `table[t_i]` for a batch of timesteps and reshapes it to [B, 1, …, 1] so it
 * broadcasts against a tensor of rank `rank` whose first axis is the batch.
 */
function perSample(table: Float64Array, t: tf.Tensor1D, rank: number): tf.Tensor {
  return tf.tidy(() => {
    const values = tf.gather(tf.tensor1d(Float32Array.from(table)), t);
    return tf.reshape(values, [t.shape[0], ...new Array<number>(rank - 1).fill(1)]);
  });
}

function checkBatchTimesteps(x0: tf.Tensor, t: tf.Tensor1D): void {
  if (t.rank !== 1) throw new ValidationError(`t must be a 1-D tensor of timesteps, got rank ${t.rank}`);
  if (t.dtype !== 'int32') throw new ValidationError(`t must be int32 timesteps, got ${t.dtype}`);
  if (x0.rank < 1 || t.shape[0] !== x0.shape[0]) {
    throw new ValidationError(`t has ${t.shape[0]} timesteps but x has batch size ${x0.shape[0] ?? 'none'}`);
  }
}

/**
 * The forward process q(x_t | x_0): x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, one timestep per sample.
 *
 * @param t int32 timesteps [B] in [0, T); out-of-range indices are rejected by `tf.gather`
 *   on the cpu backend only (the values are not read back, to keep this synchronous).
 * @param noise ε, shaped like x0 (draw it with `rng.normal(x0.shape)`).
 */
export function addNoise(schedule: NoiseSchedule, x0: tf.Tensor, t: tf.Tensor1D, noise: tf.Tensor): tf.Tensor {
  checkSameShape('addNoise(x0, noise)', x0, noise);
  checkBatchTimesteps(x0, t);
  return tf.tidy(() => {
    const a = perSample(schedule.sqrtAlphasCumprod, t, x0.rank);
    const b = perSample(schedule.sqrtOneMinusAlphasCumprod, t, x0.rank);
    return tf.add(tf.mul(a, x0), tf.mul(b, noise));
  });
}

/**
 * The v-prediction target v = √ᾱ_t · ε − √(1 − ᾱ_t) · x_0 (Salimans & Ho 2022).
 */
export function velocityTarget(schedule: NoiseSchedule, x0: tf.Tensor, t: tf.Tensor1D, noise: tf.Tensor): tf.Tensor {
  checkSameShape('velocityTarget(x0, noise)', x0, noise);
  checkBatchTimesteps(x0, t);
  return tf.tidy(() => {
    const a = perSample(schedule.sqrtAlphasCumprod, t, x0.rank);
    const b = perSample(schedule.sqrtOneMinusAlphasCumprod, t, x0.rank);
    return tf.sub(tf.mul(a, noise), tf.mul(b, x0));
  });
}

/**
 * The simplified DDPM objective (Ho et al. eq. 14): the mean of (ε̂ − ε)² over every
 * element of the batch (batch, pixels and channels alike). Returns a scalar.
 */
export function epsilonLoss(predicted: tf.Tensor, noise: tf.Tensor): tf.Scalar {
  checkSameShape('epsilonLoss(predicted, noise)', predicted, noise);
  return tf.tidy(() => tf.mean(tf.squaredDifference(predicted, noise)) as tf.Scalar);
}

/** x̂_0 and ε̂ implied by a model output at one timestep (ᾱ given as a number). */
export interface Prediction {
  readonly predictedX0: tf.Tensor;
  readonly predictedNoise: tf.Tensor;
}

/**
 * Converts a model output at timestep with cumulative ᾱ into both x̂_0 and ε̂, using
 * x_t = √ᾱ x_0 + √(1 − ᾱ) ε and, for v, x̂_0 = √ᾱ x_t − √(1 − ᾱ) v, ε̂ = √(1 − ᾱ) x_t + √ᾱ v.
 * When `clip` is set, x̂_0 is clamped to [−clip, clip] and ε̂ recomputed from the clamped x̂_0
 * (so that the sampler's update stays consistent). Call inside `tf.tidy`.
 */
export function splitPrediction(
  predictionType: PredictionType,
  modelOutput: tf.Tensor,
  x: tf.Tensor,
  alphaCumprod: number,
  clip: number | null,
): Prediction {
  const sa = Math.sqrt(alphaCumprod);
  const sb = Math.sqrt(1 - alphaCumprod);
  let x0: tf.Tensor;
  let eps: tf.Tensor;
  if (predictionType === 'epsilon') {
    eps = modelOutput;
    x0 = tf.div(tf.sub(x, tf.mul(eps, sb)), sa);
  } else if (predictionType === 'v') {
    x0 = tf.sub(tf.mul(x, sa), tf.mul(modelOutput, sb));
    eps = tf.add(tf.mul(x, sb), tf.mul(modelOutput, sa));
  } else if (predictionType === 'sample') {
    x0 = modelOutput;
    eps = tf.div(tf.sub(x, tf.mul(x0, sa)), sb);
  } else {
    throw new ValidationError(`Unknown prediction type '${String(predictionType)}'`);
  }
  if (clip !== null) {
    x0 = tf.clipByValue(x0, -clip, clip);
    eps = tf.div(tf.sub(x, tf.mul(x0, sa)), sb);
  }
  return { predictedX0: x0, predictedNoise: eps };
}

/**
 * The model output (of `predictionType`) at timestep with cumulative ᾱ that implies x̂_0 for
 * the noisy x: the inverse of `splitPrediction`'s x̂_0 (without its clip). Call inside `tf.tidy`.
 */
export function modelOutputFromX0(predictionType: PredictionType, x0: tf.Tensor, x: tf.Tensor, alphaCumprod: number): tf.Tensor {
  const sa = Math.sqrt(alphaCumprod);
  const sb = Math.sqrt(1 - alphaCumprod);
  if (predictionType === 'epsilon') return tf.div(tf.sub(x, tf.mul(x0, sa)), sb);
  if (predictionType === 'v') return tf.div(tf.sub(tf.mul(x, sa), x0), sb);
  if (predictionType === 'sample') return tf.clone(x0);
  throw new ValidationError(`Unknown prediction type '${String(predictionType)}'`);
}

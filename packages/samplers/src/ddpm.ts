import type { Rng } from '@lab/core';
import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { splitPrediction } from './forward.js';
import { BaseSampler, requireRng, type SamplerOptions, type SamplerStepResult } from './sampler.js';
import { checkTimestep, type NoiseSchedule } from './schedule.js';

/**
 * Variance of the DDPM reverse step: β̃_t, the true posterior variance (Ho et al.'s "σ² = β̃",
 * best with few steps), or β_t ("σ² = β", the upper bound, as the paper used for CIFAR-10).
 */
export type DDPMVarianceType = 'fixed-small' | 'fixed-large';

export interface DDPMSamplerOptions extends SamplerOptions {
  /** Default 'fixed-small'. */
  readonly varianceType?: DDPMVarianceType;
}

/** Coefficients of one DDPM reverse step from t to prevT (−1 for the final step). */
export interface DDPMStepCoefficients {
  /** Coefficient of x̂_0 in the posterior mean. */
  readonly meanCoefX0: number;
  /** Coefficient of x_t in the posterior mean. */
  readonly meanCoefXt: number;
  /** Variance of the added noise (0 on the final step). */
  readonly variance: number;
}

/**
 * The posterior q(x_{prev} | x_t, x_0) between two timesteps of a possibly strided schedule,
 * treating the jump as one step with β' = 1 − ᾱ_t / ᾱ_prev (the diffusers generalisation; equal
 * to the schedule's own posterior coefficients when prevT = t − 1).
 */
export function ddpmStepCoefficients(
  schedule: NoiseSchedule,
  t: number,
  prevT: number,
  varianceType: DDPMVarianceType = 'fixed-small',
): DDPMStepCoefficients {
  checkTimestep(schedule, t);
  if (!(Number.isInteger(prevT) && prevT >= -1 && prevT < t))
    throw new ValidationError(`prevT must be an integer in [-1, ${t - 1}], got ${prevT}`);
  const abarT = schedule.alphasCumprod[t] as number;
  const abarPrev = prevT < 0 ? 1 : (schedule.alphasCumprod[prevT] as number);
  const beta = 1 - abarT / abarPrev;
  const alpha = 1 - beta;
  const meanCoefX0 = (Math.sqrt(abarPrev) * beta) / (1 - abarT);
  const meanCoefXt = (Math.sqrt(alpha) * (1 - abarPrev)) / (1 - abarT);
  let variance = 0;
  if (prevT >= 0) variance = varianceType === 'fixed-large' ? beta : ((1 - abarPrev) / (1 - abarT)) * beta;
  return { meanCoefX0, meanCoefXt, variance };
}

/**
 * Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2): x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z.
 * With fewer than T timesteps, each jump uses β' = 1 − ᾱ_t/ᾱ_prev.
 */
export class DDPMSampler extends BaseSampler {
  readonly kind = 'ddpm' as const;
  readonly varianceType: DDPMVarianceType;

  constructor(schedule: NoiseSchedule, options: DDPMSamplerOptions = {}) {
    super(schedule, options);
    this.varianceType = options.varianceType ?? 'fixed-small';
    if (this.varianceType !== 'fixed-small' && this.varianceType !== 'fixed-large') {
      throw new ValidationError(`Unknown DDPM variance type '${String(this.varianceType)}'`);
    }
  }

  step(modelOutput: tf.Tensor, t: number, x: tf.Tensor, rng?: Rng): SamplerStepResult {
    this.checkStepInputs(modelOutput, x);
    const prevT = this.previousTimestep(t);
    const c = ddpmStepCoefficients(this.schedule, t, prevT, this.varianceType);
    const noiseRng = c.variance > 0 ? requireRng(rng, 'DDPMSampler.step') : undefined;
    return tf.tidy(() => {
      const { predictedX0 } = splitPrediction(this.predictionType, modelOutput, x, this.alphaCumprodAt(t), this.clip);
      let prevSample = tf.add(tf.mul(predictedX0, c.meanCoefX0), tf.mul(x, c.meanCoefXt));
      if (noiseRng) prevSample = tf.add(prevSample, tf.mul(noiseRng.normal(x.shape), Math.sqrt(c.variance)));
      return { prevSample, predictedX0 };
    });
  }
}

import type { Rng } from '@lab/core';
import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { splitPrediction } from './forward.js';
import { BaseSampler, requireRng, type SamplerOptions, type SamplerStepResult } from './sampler.js';
import type { NoiseSchedule } from './schedule.js';

export interface DDIMSamplerOptions extends SamplerOptions {
  /** η: 0 gives the deterministic DDIM, 1 the DDPM posterior variance (default 0). */
  readonly eta?: number;
}

/**
 * DDIM (Song et al. 2021, eq. 12), over any n ≤ T timesteps:
 * x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z, with
 * σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev), and ᾱ_prev = 1 after the last timestep.
 */
export class DDIMSampler extends BaseSampler {
  readonly kind = 'ddim' as const;
  readonly eta: number;

  constructor(schedule: NoiseSchedule, options: DDIMSamplerOptions = {}) {
    super(schedule, options);
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0 && Number.isFinite(this.eta))) throw new ValidationError(`DDIM eta must be a finite number ≥ 0, got ${this.eta}`);
  }

  /** σ_t(η) of the step from t to prevT. */
  noiseStd(t: number, prevT: number): number {
    const abarT = this.alphaCumprodAt(t);
    const abarPrev = this.alphaCumprodAt(prevT);
    return this.eta * Math.sqrt((1 - abarPrev) / (1 - abarT)) * Math.sqrt(1 - abarT / abarPrev);
  }

  step(modelOutput: tf.Tensor, t: number, x: tf.Tensor, rng?: Rng): SamplerStepResult {
    this.checkStepInputs(modelOutput, x);
    const prevT = this.previousTimestep(t);
    const abarPrev = this.alphaCumprodAt(prevT);
    const sigma = this.noiseStd(t, prevT);
    // η > 1 can push σ² past 1 − ᾱ_prev; the direction term then vanishes rather than going imaginary.
    const dirCoef = Math.sqrt(Math.max(0, 1 - abarPrev - sigma * sigma));
    const noiseRng = sigma > 0 ? requireRng(rng, 'DDIMSampler.step (eta > 0)') : undefined;
    return tf.tidy(() => {
      const { predictedX0, predictedNoise } = splitPrediction(this.predictionType, modelOutput, x, this.alphaCumprodAt(t), this.clip);
      let prevSample = tf.add(tf.mul(predictedX0, Math.sqrt(abarPrev)), tf.mul(predictedNoise, dirCoef));
      if (noiseRng) prevSample = tf.add(prevSample, tf.mul(noiseRng.normal(x.shape), sigma));
      return { prevSample, predictedX0 };
    });
  }
}

import { type Rng, ValidationError } from '@lab/core';
import { type AnnealedLangevinStepInfo, annealedLangevin } from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkNoGuidance } from '../guidance.js';
import { noiseLevelsOf, type ScoreEnergyConfig } from './config.js';
import { type NoiseConditionalEnergyFn, noiseConditionalEnergy } from './noise-conditional.js';

export interface ScoreEnergySampleOptions {
  readonly count: number;
  readonly rng: Rng;
  /** Langevin steps in all, spread evenly over the levels (default: the config's steps per level). */
  readonly steps?: number;
  /**
   * ε of annealed Langevin: the step at the last (smallest) noise level; level i steps ε·σᵢ²/σ_L²
   * (default: the config's `sampling.stepSize`). A finite number > 0.
   */
  readonly stepSize?: number;
  /** Refused unless 1: classifier-free guidance is a diffusion feature. */
  readonly guidance?: number;
  readonly signal?: AbortSignal;
  readonly onStep?: (info: AnnealedLangevinStepInfo) => void | Promise<void>;
}

/** The energy a score-matching model serves and scores with: E(x, σ_min), its least blurred level. */
export function servedEnergy(model: tfl.LayersModel, config: ScoreEnergyConfig): (x: tf.Tensor) => tf.Tensor1D {
  const sigmas = noiseLevelsOf(config);
  const energy = noiseConditionalEnergy(model, sigmas, { dataStd: config.dataStd });
  return (x) => energy(x, sigmas.length - 1);
}

/** The noise-conditional energy of a score-matching model. */
export function scoreEnergyOf(model: tfl.LayersModel, config: ScoreEnergyConfig): NoiseConditionalEnergyFn {
  return noiseConditionalEnergy(model, noiseLevelsOf(config), { dataStd: config.dataStd });
}

/**
 * Samples a score-matching energy model: annealed Langevin dynamics from N(0, σ_max²) noise down
 * its noise levels, then a Tweedie step, clamped to [−1, 1]. The one way the trainer (previews,
 * evaluation) and the API sample these models. Returns [count, …inputShape], owned by the caller.
 */
export async function sampleScoreEnergy(
  model: tfl.LayersModel,
  config: ScoreEnergyConfig,
  options: ScoreEnergySampleOptions,
): Promise<tf.Tensor> {
  checkNoGuidance(options.guidance);
  if (options.stepSize !== undefined && !(Number.isFinite(options.stepSize) && options.stepSize > 0))
    throw new ValidationError(`stepSize must be a finite number > 0, got ${options.stepSize}`);
  const sigmas = noiseLevelsOf(config);
  const stepsPerLevel =
    options.steps === undefined ? config.sampling.stepsPerLevel : Math.max(1, Math.round(options.steps / sigmas.length));
  const start = options.rng.normal([options.count, ...config.net.inputShape], 0, sigmas[0]);
  try {
    return await annealedLangevin(scoreEnergyOf(model, config), start, {
      sigmas,
      stepsPerLevel,
      stepSize: options.stepSize ?? config.sampling.stepSize,
      rng: options.rng,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
    });
  } finally {
    start.dispose();
  }
}

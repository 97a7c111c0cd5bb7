import { type Rng, ValidationError } from '@lab/core';
import { type AnnealedLangevinStepInfo, annealedLangevin } from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkNoGuidance } from '../guidance.js';
import { checkScoreEnergySampler, noiseLevelsOf, type ScoreEnergyConfig, type ScoreEnergySampler } from './config.js';
import { scoreEnergyOf } from './model.js';

export interface ScoreEnergySampleOptions {
  readonly count: number;
  readonly rng: Rng;
  /** Default: the config's `sampling.sampler`. */
  readonly sampler?: ScoreEnergySampler;
  /**
   * Gradient evaluations in all (default: the config's, `defaultSamplingSteps`): Langevin steps
   * spread evenly over the levels, or, for the ancestral sampler, fewer levels visited (evenly
   * spaced among the trained ones, the first and last always) with the config's corrector steps.
   */
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
  const sampler = checkScoreEnergySampler(options.sampler ?? config.sampling.sampler, 'sampler');
  const all = noiseLevelsOf(config);
  const steps = options.steps ?? (sampler === config.sampling.sampler ? config.sampling.steps : undefined);
  const plan = samplingPlan(config, sampler, all.length, steps);
  const sigmas = plan.levels.map((i) => all[i] as number);
  const energy = scoreEnergyOf(model, config);
  const start = options.rng.normal([options.count, ...config.net.inputShape], 0, all[0]);
  try {
    return await annealedLangevin((x, visited) => energy(x, plan.levels[visited] as number), start, {
      sigmas,
      stepsPerLevel: plan.stepsPerLevel,
      predictor: sampler === 'ancestral' ? 'ancestral' : 'none',
      stepSize: options.stepSize ?? config.sampling.stepSize,
      rng: options.rng,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
    });
  } finally {
    start.dispose();
  }
}

/** The trained levels a sample visits (indices, largest σ first) and the Langevin steps at each. */
function samplingPlan(
  config: ScoreEnergyConfig,
  sampler: ScoreEnergySampler,
  levels: number,
  steps: number | undefined,
): { levels: number[]; stepsPerLevel: number } {
  const every = Array.from({ length: levels }, (_, i) => i);
  if (sampler === 'langevin') {
    return { levels: every, stepsPerLevel: steps === undefined ? config.sampling.stepsPerLevel : Math.max(1, Math.round(steps / levels)) };
  }
  const corrector = config.sampling.correctorSteps;
  if (steps === undefined) return { levels: every, stepsPerLevel: corrector };
  // Each visited level costs 1 + corrector evaluations (the first one fewer: no step leads to it).
  const visited = Math.min(levels, Math.max(2, Math.round((steps + 1) / (1 + corrector))));
  const picked = Array.from({ length: visited }, (_, k) => Math.round((k * (levels - 1)) / (visited - 1)));
  return { levels: picked, stepsPerLevel: corrector };
}

import type { Rng } from '@lab/core';
import { type LangevinStepInfo, langevin } from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ClassLabels, energyFunction } from '../energy-function.js';
import { checkNoGuidance } from '../guidance.js';
import type { ContrastiveEnergyConfig } from './config.js';

export interface ContrastiveEnergySampleOptions {
  readonly count: number;
  readonly rng: Rng;
  /** Langevin steps (default: the config's `sampleSteps`). */
  readonly steps?: number;
  /** JEM models: sample E(x, y) for these classes instead of the marginal E(x). */
  readonly classLabel?: ClassLabels;
  /** Refused unless 1: classifier-free guidance is a diffusion feature. */
  readonly guidance?: number;
  readonly signal?: AbortSignal;
  readonly onStep?: (info: LangevinStepInfo) => void | Promise<void>;
}

/**
 * Samples an energy model trained by contrastive divergence: Langevin dynamics on E from uniform
 * noise in [−1, 1] with the config's step rule, clamped to [−1, 1]. The one way the trainer
 * (previews, evaluation) and the API sample these models. Returns [count, …inputShape], owned
 * by the caller.
 */
export async function sampleContrastiveEnergy(
  model: tfl.LayersModel,
  config: ContrastiveEnergyConfig,
  options: ContrastiveEnergySampleOptions,
): Promise<tf.Tensor> {
  checkNoGuidance(options.guidance);
  const { stepSize, noiseStd, gradClip } = config.langevin;
  const start = options.rng.uniform([options.count, ...config.net.inputShape], -1, 1);
  try {
    const energy = energyFunction(model, options.classLabel === undefined ? {} : { classLabel: options.classLabel });
    const { samples } = await langevin(energy, start, {
      steps: options.steps ?? config.sampleSteps,
      stepSize,
      noiseStd,
      gradClip,
      clampRange: [-1, 1],
      rng: options.rng,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
    });
    return samples;
  } finally {
    start.dispose();
  }
}

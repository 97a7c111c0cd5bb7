import { type Rng, ValidationError } from '@lab/core';
import {
  createEnergyNet,
  denoisingScoreMatchingLoss,
  type EnergyNetConfig,
  modelEnergies,
  noiseConditionalEnergy,
  resolveEnergyNetConfig,
} from '@lab/energy';
import { annealedLangevin, geometricSigmas } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, SampleOptions, TrainingTask } from './types.js';

/** Geometric noise levels from `max` down to `min`. */
export interface NoiseLevelSettings {
  max: number;
  min: number;
  levels: number;
}

/** Annealed Langevin from N(0, σ_max²) noise: steps per level and ε (the step at the last level). */
export interface AnnealedSamplingSettings {
  stepsPerLevel: number;
  stepSize: number;
}

export interface ScoreEnergyTaskOptions {
  /** Energy-net body: a preset (`small`, `resnet`) or overrides; it is made conditional on the noise level. */
  net?: 'small' | 'resnet' | Partial<EnergyNetConfig>;
  /** Noise levels (default σ from 1 to 0.01, 10 levels). */
  noise?: Partial<NoiseLevelSettings>;
  /** Sampling for previews, evaluation and the API (default 10 steps per level, ε = 5e-5). */
  sampling?: Partial<AnnealedSamplingSettings>;
  /** Std of the Gaussian base energy (default 0.5; see `noiseConditionalEnergy`). */
  dataStd?: number;
  /** Langevin steps in all for sampling, spread evenly over the levels (instead of `sampling.stepsPerLevel`). */
  sampleSteps?: number;
}

/** Weight of the penalty on the squared mean energy that pins the energy's free constant. */
const ENERGY_ANCHOR = 1e-4;

/** The training objective stored in an energy run's config: absent or 'cd' is contrastive divergence. */
export const SCORE_MATCHING_OBJECTIVE = 'dsm';

/**
 * An energy model trained at diffusion cost: a noise-conditional energy E(x, σ) = E_θ(x, σ-level)/σ
 * whose gradient is fitted to the score by denoising score matching (the energy parameterisation
 * of Salimans & Ho 2021), sampled by annealed Langevin dynamics on −∇ₓE. One step is one forward
 * pass, its input gradient and the gradient of that: no Langevin chains while training.
 */
export class ScoreEnergyTask implements TrainingTask {
  readonly kind = 'energy' as const;
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  readonly sigmas: readonly number[];
  private readonly net: EnergyNetConfig;
  private readonly sampling: AnnealedSamplingSettings;
  private readonly dataStd: number;

  constructor(options: ScoreEnergyTaskOptions = {}) {
    const noise: NoiseLevelSettings = { max: 1, min: 0.01, levels: 10, ...options.noise };
    this.sigmas = geometricSigmas(noise.max, noise.min, noise.levels);
    const body = typeof options.net === 'string' || options.net === undefined ? { preset: options.net ?? 'small' } : options.net;
    this.net = resolveEnergyNetConfig({ ...body, mode: 'conditional', numClasses: noise.levels });
    this.sampling = {
      stepsPerLevel: 10,
      stepSize: 5e-5,
      ...options.sampling,
      ...(options.sampleSteps !== undefined ? { stepsPerLevel: Math.max(1, Math.round(options.sampleSteps / noise.levels)) } : {}),
    };
    if (!(Number.isInteger(this.sampling.stepsPerLevel) && this.sampling.stepsPerLevel >= 1))
      throw new ValidationError(`sampling.stepsPerLevel must be an integer ≥ 1, got ${this.sampling.stepsPerLevel}`);
    if (!(this.sampling.stepSize > 0)) throw new ValidationError(`sampling.stepSize must be > 0, got ${this.sampling.stepSize}`);
    this.dataStd = options.dataStd ?? 0.5;
    this.config = { objective: SCORE_MATCHING_OBJECTIVE, net: this.net, noise, dataStd: this.dataStd, sampling: this.sampling };
  }

  static fromConfig(config: Record<string, unknown>): ScoreEnergyTask {
    if (config.objective !== SCORE_MATCHING_OBJECTIVE)
      throw new ValidationError(`not a score-matching energy config (objective ${String(config.objective)})`);
    return new ScoreEnergyTask(config as ScoreEnergyTaskOptions);
  }

  createModel(): tfl.LayersModel {
    return createEnergyNet(this.net);
  }

  async prepare(_model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const size = batch.images.shape[0];
    const levels = Int32Array.from({ length: size }, () => rng.int(this.sigmas.length));
    return { clean: batch.images.clone(), levels: tf.tensor1d(levels, 'int32'), noise: rng.normal(batch.images.shape) };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const energy = noiseConditionalEnergy(model, this.sigmas, { dataStd: this.dataStd });
    const parts = denoisingScoreMatchingLoss(
      energy,
      inputs.clean as tf.Tensor,
      inputs.levels as tf.Tensor1D,
      this.sigmas,
      inputs.noise as tf.Tensor,
    );
    // The score fixes the energy only up to a constant per level: a tiny pull of the network's
    // energies of the data towards 0 pins it (and gives the head's bias, which no gradient in x
    // sees, a gradient). One extra forward pass.
    const { energies } = modelEnergies(model, inputs.clean as tf.Tensor, { mode: 'conditional', classLabel: inputs.levels as tf.Tensor1D });
    const anchor = tf.mean(tf.square(energies)) as tf.Scalar;
    const loss = tf.add(parts.loss, tf.mul(anchor, ENERGY_ANCHOR)) as tf.Scalar;
    return { loss, metrics: { scoreMatching: parts.loss, scoreNorm: parts.scoreNorm, energySquared: anchor } };
  }

  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    if ((options.guidance ?? 1) !== 1) throw new ValidationError('guidance needs a class-conditional diffusion run, not an energy run');
    // `steps` counts Langevin steps in all, spread over the levels.
    const stepsPerLevel =
      options.steps === undefined ? this.sampling.stepsPerLevel : Math.max(1, Math.round(options.steps / this.sigmas.length));
    const start = rng.normal([n, ...this.net.inputShape], 0, this.sigmas[0]);
    try {
      return (await annealedLangevin(noiseConditionalEnergy(model, this.sigmas, { dataStd: this.dataStd }), start, {
        sigmas: this.sigmas,
        stepsPerLevel,
        stepSize: this.sampling.stepSize,
        rng,
        ...(options.signal ? { signal: options.signal } : {}),
      })) as tf.Tensor4D;
    } finally {
      start.dispose();
    }
  }
}

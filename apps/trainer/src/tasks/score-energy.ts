import type { Rng } from '@lab/core';
import {
  createScoreEnergyNet,
  defaultSamplingSteps,
  denoisingScoreMatchingLoss,
  modelEnergies,
  type NoiseConditionalEnergyFn,
  noiseLevelsOf,
  parseScoreEnergyConfig,
  resolveScoreEnergyConfig,
  SCORE_ENERGY_SAMPLERS,
  type ScoreEnergyConfig,
  type ScoreEnergyConfigOptions,
  type ScoreEnergySampler,
  sampleScoreEnergy,
  scoreEnergyOf,
} from '@lab/energy';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, SampleOptions, TrainerSamplerName, TrainingTask } from './types.js';

export interface ScoreEnergyTaskOptions extends ScoreEnergyConfigOptions {
  /** Langevin steps in all for sampling, spread evenly over the levels (instead of `sampling.stepsPerLevel`). */
  readonly sampleSteps?: number;
}

/** Weight of the penalty on the network's squared data energies that pins the energy's free constant. */
const ENERGY_ANCHOR = 1e-4;

/**
 * An energy model trained at diffusion cost: a noise-conditional energy E(x, σ) (see
 * `noiseConditionalEnergy` in @lab/energy) whose gradient is fitted to the score by denoising
 * score matching (the energy parameterisation of Salimans & Ho 2021), sampled by annealed Langevin
 * dynamics on −∇ₓE. One step is one forward pass, its input gradient and the gradient of that:
 * no Langevin chains while training.
 */
export class ScoreEnergyTask implements TrainingTask {
  readonly kind = 'energy' as const;
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  readonly samplers: readonly TrainerSamplerName[] = SCORE_ENERGY_SAMPLERS;
  readonly sigmas: readonly number[];
  private readonly settings: ScoreEnergyConfig;
  /** Each model's energy function, built once (a UNet body derives its timesteps from its schedule). */
  private readonly energies = new WeakMap<tfl.LayersModel, NoiseConditionalEnergyFn>();

  constructor(options: ScoreEnergyTaskOptions = {}) {
    const { sampleSteps, ...rest } = options;
    const resolved = resolveScoreEnergyConfig(rest);
    this.settings =
      sampleSteps === undefined
        ? resolved
        : { ...resolved, sampling: { ...resolved.sampling, stepsPerLevel: Math.max(1, Math.round(sampleSteps / resolved.noise.levels)) } };
    this.sigmas = noiseLevelsOf(this.settings);
    this.config = { ...this.settings };
  }

  get defaultSampler(): TrainerSamplerName {
    return this.settings.sampling.sampler;
  }

  defaultSampleSteps(sampler?: TrainerSamplerName): number {
    return defaultSamplingSteps(this.settings, sampler as ScoreEnergySampler | undefined);
  }

  get defaultStepSize(): number {
    return this.settings.sampling.stepSize;
  }

  static fromConfig(config: Record<string, unknown>): ScoreEnergyTask {
    return new ScoreEnergyTask(parseScoreEnergyConfig(config));
  }

  createModel(): tfl.LayersModel {
    return createScoreEnergyNet(this.settings);
  }

  async prepare(_model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const size = batch.images.shape[0];
    const levels = Int32Array.from({ length: size }, () => rng.int(this.sigmas.length));
    return { clean: batch.images.clone(), levels: tf.tensor1d(levels, 'int32'), noise: rng.normal(batch.images.shape) };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const clean = inputs.clean as tf.Tensor;
    const levels = inputs.levels as tf.Tensor1D;
    const parts = denoisingScoreMatchingLoss(this.energyOf(model), clean, levels, this.sigmas, inputs.noise as tf.Tensor);
    const metrics = { scoreMatching: parts.loss, scoreNorm: parts.scoreNorm };
    // A UNet energy ⟨x, u⟩/2σ has no free constant (it is 0 at x = 0): nothing to pin.
    if (this.settings.net.architecture === 'unet') return { loss: parts.loss, metrics };
    // The score fixes the energy only up to a constant per level: a tiny pull of the network's
    // energies of the data towards 0 pins it (and gives the head's bias, which no gradient in x
    // sees, a gradient). One extra forward pass.
    const { energies } = modelEnergies(model, clean, { mode: 'conditional', classLabel: levels });
    const anchor = tf.mean(tf.square(energies)) as tf.Scalar;
    const loss = tf.add(parts.loss, tf.mul(anchor, ENERGY_ANCHOR)) as tf.Scalar;
    return { loss, metrics: { ...metrics, energySquared: anchor } };
  }

  private energyOf(model: tfl.LayersModel): NoiseConditionalEnergyFn {
    let energy = this.energies.get(model);
    if (!energy) {
      energy = scoreEnergyOf(model, this.settings);
      this.energies.set(model, energy);
    }
    return energy;
  }

  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    return (await sampleScoreEnergy(model, this.settings, {
      count: n,
      rng,
      ...(options.guidance === undefined ? {} : { guidance: options.guidance }),
      ...(options.steps !== undefined ? { steps: options.steps } : {}),
      ...(options.sampler !== undefined ? { sampler: options.sampler as ScoreEnergySampler } : {}),
      ...(options.stepSize !== undefined ? { stepSize: options.stepSize } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })) as tf.Tensor4D;
  }
}

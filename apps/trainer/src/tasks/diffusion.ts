import { type Rng, ValidationError } from '@lab/core';
import { addNoise, createSchedule, epsilonLoss, type NoiseSchedule } from '@lab/samplers';
import {
  createUNet,
  type DiffusionModelConfig,
  type DiffusionModelConfigOptions,
  DiffusionPipeline,
  parseDiffusionConfig,
  resolveDiffusionConfig,
  type UNetConfig,
} from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  type DataBatch,
  DIFFUSION_SAMPLERS,
  type DiffusionSamplerName,
  type PreparedBatch,
  type SampleOptions,
  type TrainerSamplerName,
  type TrainingTask,
} from './types.js';

/** A diffusion run's settings: the model config of @lab/unet (defaults: `DIFFUSION_CONFIG_DEFAULTS`). */
export type DiffusionTaskOptions = DiffusionModelConfigOptions;

/**
 * DDPM training (Ho et al. 2020, Algorithm 1): t ~ U{0…T−1}, ε ~ N(0, I),
 * x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, loss = mean (ε̂(x_t, t) − ε)². Previews use the config's sampler
 * (DDIM unless it names another).
 */
export class DiffusionTask implements TrainingTask {
  readonly kind = 'diffusion' as const;
  /** The `DiffusionModelConfig` stored in run.json and in the checkpoint manifest. */
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  readonly samplers = DIFFUSION_SAMPLERS;
  readonly schedule: NoiseSchedule;
  private readonly settings: DiffusionModelConfig;
  /** CIFAR label → class index of the UNet (conditional UNets only). */
  private readonly labelToIndex: Map<number, number> | undefined;

  constructor(options: DiffusionTaskOptions = {}) {
    this.settings = resolveDiffusionConfig(options);
    this.schedule = createSchedule(this.settings.schedule);
    const { classes } = this.settings;
    this.labelToIndex = classes ? new Map(classes.map((label, index) => [label, index])) : undefined;
    this.config = { ...this.settings };
  }

  /** Rebuilds the task from the `config` stored in a run (a ValidationError names a bad field). */
  static fromConfig(config: Record<string, unknown>): DiffusionTask {
    return new DiffusionTask(parseDiffusionConfig(config));
  }

  private get unet(): UNetConfig {
    return this.settings.unet;
  }

  private get labelDropout(): number {
    return this.settings.labelDropout;
  }

  /** Number of classes of a class-conditional UNet, or undefined for an unconditional one. */
  get numClasses(): number | undefined {
    const n = this.unet.numClasses;
    return typeof n === 'number' && n > 0 ? n : undefined;
  }

  createModel(): tfl.LayersModel {
    return createUNet(this.unet);
  }

  async prepare(_model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const size = batch.images.shape[0];
    const T = this.schedule.timesteps;
    const t = Int32Array.from({ length: size }, () => rng.int(T));
    const noise = rng.normal(batch.images.shape);
    const tTensor = tf.tensor1d(t, 'int32');
    const prepared: PreparedBatch = {
      xt: addNoise(this.schedule, batch.images, tTensor, noise),
      t: tf.cast(tTensor, 'float32'),
      noise,
    };
    tTensor.dispose();
    const classes = this.numClasses;
    if (classes !== undefined) {
      const labels = Int32Array.from(await batch.labels.data(), (label) => this.classIndex(label));
      for (let i = 0; i < size; i++) if (rng.float() < this.labelDropout) labels[i] = classes;
      prepared.y = tf.tensor1d(labels, 'int32');
    }
    return prepared;
  }

  /** The UNet class index of a CIFAR label (a label outside the run's classes is a data error). */
  private classIndex(label: number): number {
    const index = this.labelToIndex?.get(label);
    if (index === undefined)
      throw new ValidationError(`label ${label} is not one of the model's classes [${[...(this.labelToIndex?.keys() ?? [])].join(', ')}]`);
    return index;
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar } {
    const args = [inputs.xt, inputs.t, ...(inputs.y ? [inputs.y] : [])] as tf.Tensor[];
    const predicted = model.apply(args, { training: true }) as tf.Tensor;
    return { loss: epsilonLoss(predicted, inputs.noise as tf.Tensor) };
  }

  /** The config's `sampler`, DDIM when it names none (a config may name one the trainer does not offer). */
  get defaultSampler(): TrainerSamplerName {
    return (this.settings.sampler ?? 'ddim') as TrainerSamplerName;
  }

  get classConditional(): boolean {
    return this.numClasses !== undefined;
  }

  /**
   * Samples with the config's sampler (DDIM unless it names another) or `sampler`; a conditional
   * model's cycle through its classes, with classifier-free guidance when asked.
   */
  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    const pipeline = new DiffusionPipeline(model, this.settings);
    return pipeline.sample({
      count: n,
      rng,
      steps: Math.min(options.steps ?? this.settings.sampleSteps, this.schedule.timesteps),
      // Without one, the config's sampler (DDIM with η = 0 unless it names another).
      ...(options.sampler ? { sampler: { kind: options.sampler as DiffusionSamplerName } } : {}),
      ...(this.classConditional ? { labels: 'cycle' as const } : {}),
      ...(options.guidance === undefined ? {} : { guidance: options.guidance }),
      ...(options.guidanceRescale === undefined ? {} : { guidanceRescale: options.guidanceRescale }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
}

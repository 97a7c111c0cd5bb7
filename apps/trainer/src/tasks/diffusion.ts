import { CIFAR10_CLASS_NAMES, type Rng, ValidationError } from '@lab/core';
import { addNoise, createSchedule, DDIMSampler, epsilonLoss, type NoiseSchedule, type ScheduleKind, sampleDiffusion } from '@lab/samplers';
import { createUNet, resolveUNetConfig, type UNetConfig, type UNetConfigInput, type UNetPresetName } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, SampleOptions, TrainingTask } from './types.js';

export interface DiffusionTaskOptions {
  /** A UNet preset name, or a (partial, on top of `preset`) config (default `tiny`). */
  unet?: UNetPresetName | UNetConfigInput;
  schedule?: { kind?: ScheduleKind; timesteps?: number };
  /** For class-conditional UNets: probability of replacing a label by the null class (classifier-free guidance). */
  labelDropout?: number;
  /**
   * For class-conditional UNets trained on some CIFAR-10 classes only: the CIFAR label of each
   * class index (`[3, 5]`: index 0 = cat, 1 = dog). Default: index = CIFAR label.
   */
  classes?: number[];
  /** DDIM steps for preview grids (default 50). */
  sampleSteps?: number;
}

/**
 * DDPM training (Ho et al. 2020, Algorithm 1): t ~ U{0…T−1}, ε ~ N(0, I),
 * x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, loss = mean (ε̂(x_t, t) − ε)². Previews use DDIM.
 */
export class DiffusionTask implements TrainingTask {
  readonly kind = 'diffusion' as const;
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  readonly schedule: NoiseSchedule;
  private readonly unet: UNetConfig;
  private readonly labelDropout: number;
  private readonly sampleSteps: number;
  /** CIFAR label → class index of the UNet (conditional UNets only). */
  private readonly labelToIndex: Map<number, number> | undefined;

  constructor(options: DiffusionTaskOptions = {}) {
    this.unet = resolveUNetConfig(options.unet ?? 'tiny');
    const schedule = { kind: options.schedule?.kind ?? 'linear', timesteps: options.schedule?.timesteps ?? 1000 };
    this.schedule = createSchedule(schedule);
    this.labelDropout = options.labelDropout ?? 0.1;
    if (!(this.labelDropout >= 0 && this.labelDropout <= 1))
      throw new ValidationError(`labelDropout must be in [0, 1], got ${this.labelDropout}`);
    this.sampleSteps = options.sampleSteps ?? 50;
    const classes = this.numClasses;
    if (options.classes && classes === undefined)
      throw new ValidationError('classes is set, but the UNet is unconditional (numClasses missing)');
    const labels = options.classes ?? (classes === undefined ? undefined : Array.from({ length: classes }, (_, i) => i));
    if (labels && classes !== undefined) {
      if (
        labels.length !== classes ||
        new Set(labels).size !== labels.length ||
        !labels.every((c) => Number.isInteger(c) && c >= 0 && c <= 9)
      )
        throw new ValidationError(
          `classes must be ${classes} distinct CIFAR-10 labels 0–9 (one per UNet class), got [${labels.join(', ')}]`,
        );
      this.labelToIndex = new Map(labels.map((label, index) => [label, index]));
    }
    this.config = {
      unet: this.unet,
      schedule,
      labelDropout: this.labelDropout,
      sampleSteps: this.sampleSteps,
      // The API's diffusion plugin reads `classNames` to name the class indices.
      ...(labels ? { classes: labels, classNames: labels.map((c) => CIFAR10_CLASS_NAMES[c] as string) } : {}),
    };
  }

  /** Rebuilds the task from the `config` stored in a run. */
  static fromConfig(config: Record<string, unknown>): DiffusionTask {
    return new DiffusionTask(config as DiffusionTaskOptions);
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

  get classConditional(): boolean {
    return this.numClasses !== undefined;
  }

  /** DDIM samples; a conditional model's cycle through its classes, with classifier-free guidance when asked. */
  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    const sampler = new DDIMSampler(this.schedule);
    const classes = this.numClasses;
    const guidance = options.guidance ?? 1;
    if (guidance !== 1 && classes === undefined) throw new ValidationError('guidance needs a class-conditional diffusion run');
    return sampleDiffusion({
      denoiser: (x, t, y) => model.apply([x, t, ...(y ? [y] : [])], { training: false }) as tf.Tensor4D,
      sampler,
      steps: Math.min(options.steps ?? this.sampleSteps, this.schedule.timesteps),
      shape: [n, this.unet.imageSize, this.unet.imageSize, this.unet.inChannels],
      rng,
      ...(classes !== undefined ? { classLabels: Int32Array.from({ length: n }, (_, i) => i % classes) } : {}),
      // The null label is the class index after the last one (see prepare's label dropout).
      ...(guidance !== 1 ? { guidanceScale: guidance, nullClass: classes } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
}

import type { Rng } from '@lab/core';
import {
  createSampler,
  createSchedule,
  type DiffusionStepInfo,
  type InpaintOptions,
  type NoiseSchedule,
  type SamplerSpec,
  sampleDiffusion,
} from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { DiffusionModelConfig } from '../diffusion-config.js';
import { unetDenoiser } from './denoiser.js';
import { type ClassLabelSpec, resolveConditioning } from './labels.js';

/** One sampling run of a {@link DiffusionPipeline}. */
export interface DiffusionPipelineSampleOptions {
  readonly count: number;
  /** The only source of randomness: the same seed gives the same samples. */
  readonly rng: Rng;
  /** The sampler (default: the config's `sampler`, else DDIM with η = 0). */
  readonly sampler?: SamplerSpec;
  /** Reverse steps (default: the config's `sampleSteps`, at most T). */
  readonly steps?: number;
  /**
   * Class-conditional models: the classes to draw. Absent: unconditional samples (the null
   * class), which take no guidance. Unconditional models take none.
   */
  readonly labels?: ClassLabelSpec;
  /** Classifier-free guidance scale (default: the config's `guidance`, else 1, the plain conditional model); needs `labels`. */
  readonly guidance?: number;
  /** Guidance rescale φ in [0, 1] of guided samples (default: the config's `guidanceRescale`, else 0). */
  readonly guidanceRescale?: number;
  /** Inpainting: mask 1 = generate, 0 = keep `image` (see `InpaintOptions` of @lab/samplers). */
  readonly inpaint?: InpaintOptions;
  /** Called after every step with the sample and its x̂_0 preview (valid during the call only). */
  readonly onStep?: (info: DiffusionStepInfo) => void | Promise<void>;
  /** Checked before every step; an abort rejects with CancelledError. */
  readonly signal?: AbortSignal;
}

/**
 * A UNet ε-model with its noise schedule, sampled by a sampler named in data: the one way the
 * API provider and the trainer's previews and evaluation draw diffusion samples. It checks
 * labels and guidance against the model (`resolveConditioning`), builds the sampler
 * (`createSampler`) and runs `sampleDiffusion`. It does not own the model.
 */
export class DiffusionPipeline {
  readonly model: LayersModel;
  readonly config: DiffusionModelConfig;
  readonly schedule: NoiseSchedule;

  constructor(model: LayersModel, config: DiffusionModelConfig) {
    this.model = model;
    this.config = config;
    this.schedule = createSchedule(config.schedule);
  }

  /** Number of classes of a class-conditional UNet, or undefined. */
  get numClasses(): number | undefined {
    return this.config.unet.numClasses;
  }

  /** [H, W, C] of one sample. */
  get imageShape(): [number, number, number] {
    const { imageSize, inChannels } = this.config.unet;
    return [imageSize, imageSize, inChannels];
  }

  /** The config's `sampler`, or DDIM (η = 0) when it names none. */
  get defaultSampler(): SamplerSpec {
    return { kind: this.config.sampler ?? 'ddim' };
  }

  /** The config's `sampleSteps`, at most T. */
  get defaultSteps(): number {
    return Math.min(this.config.sampleSteps, this.schedule.timesteps);
  }

  /** The config's `guidance`: what class-conditional samples get without `guidance` (1: none). */
  get defaultGuidance(): number {
    return this.config.guidance ?? 1;
  }

  /** The config's `guidanceRescale`: what guided samples get without `guidanceRescale` (0: plain guidance). */
  get defaultGuidanceRescale(): number {
    return this.config.guidanceRescale ?? 0;
  }

  /** Draws `count` samples [count, H, W, C], owned by the caller; no other tensor outlives the call. */
  sample(options: DiffusionPipelineSampleOptions): Promise<tf.Tensor4D> {
    // Only samples of a class are guided by default: unconditional ones take no guidance.
    const guidance = options.guidance ?? (options.labels === undefined ? undefined : this.defaultGuidance);
    const conditioning = resolveConditioning(this.numClasses, options.count, options.labels, guidance);
    // The rescale acts on guidance only: unguided samples ignore the default (an explicit φ > 0 is refused below).
    const guidanceRescale = options.guidanceRescale ?? (conditioning.guidanceScale === 1 ? 0 : this.defaultGuidanceRescale);
    return sampleDiffusion({
      denoiser: unetDenoiser(this.model),
      sampler: createSampler(this.schedule, options.sampler ?? this.defaultSampler),
      shape: [options.count, ...this.imageShape],
      rng: options.rng,
      steps: options.steps ?? this.defaultSteps,
      ...(conditioning.labels ? { classLabels: conditioning.labels } : {}),
      ...(conditioning.nullClass === undefined ? {} : { nullClass: conditioning.nullClass }),
      guidanceScale: conditioning.guidanceScale,
      ...(guidanceRescale === 0 ? {} : { guidanceRescale }),
      ...(options.inpaint ? { inpaint: options.inpaint } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
}

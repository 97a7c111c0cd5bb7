import type { ModelKind } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';

/** What a model can do; the express adapter turns each into routes. */
export const CAPABILITIES = ['unconditional', 'class-conditional', 'inpaint', 'score', 'classify'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The kinds of model a checkpoint can hold (defined once, in `@lab/core`). */
export type { ModelKind };
/**
 * Every sampler a request may name: a diffusion model's (ddpm, ddim, dpm-solver++) or an energy
 * model's (langevin; ancestral: a score-matching energy's ancestral steps between noise levels).
 * Each model lists those it takes in `ModelInfo.samplers`.
 */
export const SAMPLER_NAMES = ['ddpm', 'ddim', 'dpm-solver++', 'langevin', 'ancestral'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** Static facts about a loaded model, used for validation and `GET /v1/models`. */
export interface ModelInfo {
  readonly capabilities: readonly Capability[];
  /** Samplers this model accepts (empty for classifiers). */
  readonly samplers: readonly SamplerName[];
  readonly defaultSampler?: SamplerName;
  readonly defaultSteps: number;
  readonly maxSteps: number;
  /** Image shape [height, width, channels] the model works on. */
  readonly imageShape: readonly [number, number, number];
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  /** Class-conditional models: the guidance scale a request for a class gets without `guidance`. */
  readonly defaultGuidance?: number;
  /** Class-conditional models: the guidance rescale φ a guided request gets without `guidanceRescale` (0: none). */
  readonly defaultGuidanceRescale?: number;
  /** The checkpoint manifest (config, training step, metrics), as stored. */
  readonly manifest?: Readonly<Record<string, unknown>>;
}

/** One progress report: `preview` is the current estimate in [-1, 1]; the receiver must not keep it past the call. */
export interface ProgressInfo {
  readonly step: number;
  readonly total: number;
  readonly preview?: tf.Tensor4D;
}

/** Cancellation and progress for one piece of work. */
export interface JobControl {
  readonly signal?: AbortSignal;
  /** Called after each step; pass `wantPreview(step)` results to decide whether to build a preview. */
  readonly onProgress?: (info: ProgressInfo) => void;
  /** True when the caller wants a preview tensor at this step (to skip building it otherwise). */
  readonly wantPreview?: (step: number, total: number) => boolean;
}

export interface SampleParams {
  readonly count: number;
  readonly seed: number;
  readonly sampler: SamplerName;
  readonly steps: number;
  /** DDIM stochasticity (0 = deterministic). */
  readonly eta?: number;
  /** Classifier-free guidance scale (diffusion, class-conditional models). */
  readonly guidance?: number;
  /** Guidance rescale φ in [0, 1] of guided samples (diffusion, class-conditional models). */
  readonly guidanceRescale?: number;
  readonly classLabel?: number;
}

export interface InpaintParams extends SampleParams {
  /** Known image, shape [1, H, W, C] in [-1, 1]. */
  readonly image: tf.Tensor4D;
  /** Shape [1, H, W, 1]: 1 where pixels must be generated, 0 where the image is kept. */
  readonly mask: tf.Tensor4D;
}

export interface ScoreResult {
  readonly energy: number;
  /** Fraction of training images with a lower energy (0–100); undefined when the checkpoint stores none. */
  readonly percentile?: number;
}

/**
 * A loaded model behind the API. Methods take and return tensors; the caller owns returned
 * tensors and disposes them. Optional methods exist exactly when the matching capability does.
 */
export interface ModelProvider {
  readonly id: string;
  readonly kind: ModelKind;
  /** Loads the checkpoint; throws (CheckpointError, NotFoundError …) when it is missing or corrupt. */
  load(): Promise<ModelInfo>;
  /** Generates `count` images in [-1, 1], shape [count, H, W, C]. */
  sample?(params: SampleParams, control: JobControl): Promise<tf.Tensor4D>;
  inpaint?(params: InpaintParams, control: JobControl): Promise<tf.Tensor4D>;
  /** Energies (lower = more typical) of images in [-1, 1]. */
  score?(images: tf.Tensor4D, control: JobControl): Promise<ScoreResult[]>;
  /** Class probabilities per image. */
  classify?(images: tf.Tensor4D, control: JobControl): Promise<number[][]>;
  dispose(): void;
}

/** A function that builds a provider from its options (what `ProviderPluginDefinition.exportName` names). */
export type ProviderFactory<O = unknown> = (options: O) => ModelProvider;

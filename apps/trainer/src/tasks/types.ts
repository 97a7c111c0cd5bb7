import type { ModelKind, Rng } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Augmentation } from '../data/batches.js';

export type { ModelKind };

/** A batch of real data: images [B,32,32,3] in [-1,1], int32 labels [B]. */
export interface DataBatch {
  readonly images: tf.Tensor4D;
  readonly labels: tf.Tensor1D;
}

/** Batch-first tensors that the trainer slices into micro-batches; the task's `loss` reads them. */
export type PreparedBatch = Record<string, tf.Tensor>;

/** Extra state a task keeps across steps (the energy model's replay buffer), as checkpoint parts. */
export interface TaskState {
  readonly tensors?: Record<string, tf.Tensor>;
  readonly json?: Record<string, unknown>;
}

/** The samplers a diffusion run can be sampled with from the trainer (`--sampler`). */
export const DIFFUSION_SAMPLERS = ['ddim', 'dpm-solver++'] as const;
export type DiffusionSamplerName = (typeof DIFFUSION_SAMPLERS)[number];

/** Every sampler `--sampler` names: the diffusion ones, and a score-matching energy's (`SCORE_ENERGY_SAMPLERS`). */
export const TRAINER_SAMPLERS = [...DIFFUSION_SAMPLERS, 'langevin', 'ancestral'] as const;
export type TrainerSamplerName = (typeof TRAINER_SAMPLERS)[number];

/** How a task draws samples (preview grids, `evaluate`). */
export interface SampleOptions {
  readonly signal?: AbortSignal;
  /** Sampler steps (diffusion) or Langevin steps (energy); default: the run's own. */
  readonly steps?: number;
  /** One of the task's `samplers` (default: its `defaultSampler`); the commands refuse others. */
  readonly sampler?: TrainerSamplerName;
  /** Classifier-free guidance scale; class-conditional diffusion only (default 1: the plain conditional model). */
  readonly guidance?: number;
  /** Guidance rescale φ in [0, 1] of guided samples (class-conditional diffusion only; default 0). */
  readonly guidanceRescale?: number;
  /**
   * Score-matching energy only: annealed Langevin's step size ε (default: the config's
   * `sampling.stepSize`); other tasks ignore it (the commands refuse it for them).
   */
  readonly stepSize?: number;
}

/**
 * One kind of model to train. The trainer owns the optimiser, gradient accumulation, clipping,
 * EMA, checkpoints and the data; a task says how to build its network, what one step's inputs
 * are, and what the loss of a slice of them is.
 */
export interface TrainingTask {
  readonly kind: ModelKind;
  /** The resolved, JSON-safe configuration (stored in the run and the manifest). */
  readonly config: Record<string, unknown>;
  /** Augmentation applied to the real images. */
  readonly augmentation: Augmentation;
  /** A fresh network of this architecture (random weights). */
  createModel(): tfl.LayersModel;
  /**
   * Everything one step needs, batch-first, drawn from `rng` for the whole batch before it is split
   * (so the result does not depend on the micro-batch size). May be async (Langevin sampling).
   * The trainer disposes the returned tensors (not `batch`).
   */
  prepare(model: tfl.LayersModel, batch: DataBatch, rng: Rng, step: number): Promise<PreparedBatch>;
  /** The mean loss over a slice of a prepared batch, in training mode, plus scalar metrics. */
  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics?: Record<string, tf.Scalar> };
  /** Called after the optimiser step with the whole prepared batch (e.g. to store Langevin chains). */
  afterStep?(prepared: PreparedBatch): Promise<void>;
  /** True when samples are drawn per class (they cycle through the classes) and `guidance` applies. */
  readonly classConditional?: boolean;
  /** The samplers `sample` accepts (absent: it takes no choice of sampler). */
  readonly samplers?: readonly TrainerSamplerName[];
  /** The one it uses without `sampler`. */
  readonly defaultSampler?: TrainerSamplerName;
  /** The sampling steps `sample` takes without `steps`, by sampler (default: the config's `sampleSteps`). */
  defaultSampleSteps?(sampler?: TrainerSamplerName): number;
  /**
   * Tasks sampled by annealed Langevin (score-matching energy): the step size ε `sample` uses
   * without `stepSize`. Absent: the task takes no step size (`--step-size` is refused).
   */
  readonly defaultStepSize?: number;
  /** `n` samples in [-1,1] for the preview grid and evaluation (none for a classifier). */
  sample?(model: tfl.LayersModel, n: number, rng: Rng, options?: SampleOptions): Promise<tf.Tensor4D>;
  saveState?(): TaskState;
  restoreState?(state: TaskState): Promise<void>;
}

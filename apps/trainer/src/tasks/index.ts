import type { ClassifierPreset } from '@lab/classifier';
import { ValidationError } from '@lab/core';
import { isScoreEnergyConfig, type NoiseLevelSettings, SCORE_MATCHING_OBJECTIVE } from '@lab/energy';
import { ClassifierTask } from './classifier.js';
import { DiffusionTask } from './diffusion.js';
import { EnergyTask } from './energy.js';
import { ScoreEnergyTask } from './score-energy.js';
import type { ModelKind, TrainingTask } from './types.js';

export const MODEL_KINDS: readonly ModelKind[] = ['diffusion', 'energy', 'classifier'];

export function parseModelKind(value: string): ModelKind {
  if (!(MODEL_KINDS as readonly string[]).includes(value))
    throw new ValidationError(`--model must be one of ${MODEL_KINDS.join(', ')}, got '${value}'`);
  return value as ModelKind;
}

/** Options a new run's task is built from (CLI flags). */
export interface TaskOptions {
  preset?: string;
  /** Diffusion only. */
  schedule?: 'linear' | 'cosine';
  timesteps?: number;
  /** Diffusion: DDIM preview steps; energy: Langevin steps from noise. */
  sampleSteps?: number;
  /** Energy only: Langevin steps per training batch (contrastive divergence). */
  langevinSteps?: number;
  /**
   * Energy only: `cd` (default), contrastive divergence with Langevin negatives, or `dsm`,
   * denoising score matching of a noise-conditional energy (sampled by annealed Langevin).
   */
  objective?: 'cd' | 'dsm';
  /** Energy, dsm only: the geometric noise levels (default σ from 1 to 0.01, 10 levels). */
  noise?: Partial<NoiseLevelSettings>;
  /** Energy, dsm only: the sampler's default ε, the Langevin step at the smallest noise level. */
  stepSize?: number;
  /**
   * Diffusion only: a class-conditional UNet, one class per CIFAR-10 class (10), or per class of
   * `classes` when the data is filtered (class index i is then CIFAR label `classes[i]`).
   */
  conditional?: boolean;
  /** Diffusion, conditional only: probability of training a label as the null class (default 0.1). */
  labelDropout?: number;
  /** The CIFAR-10 classes the run trains on (all when absent). */
  classes?: number[];
  /** Classifier only: side of the square cutout erases from each training image. */
  cutout?: number;
}

/** The diffusion task of a new run, from the CLI's flags. */
function createDiffusionTask(options: TaskOptions): DiffusionTask {
  if (!options.conditional && options.labelDropout !== undefined)
    throw new ValidationError('--label-dropout needs --conditional (it drops class labels)');
  const classes = options.classes && options.classes.length > 0 ? [...options.classes].sort((a, b) => a - b) : undefined;
  const preset = options.preset ?? 'tiny';
  return new DiffusionTask({
    unet: options.conditional ? { preset: preset as 'tiny', numClasses: classes?.length ?? 10 } : (preset as 'tiny'),
    schedule: { kind: options.schedule ?? 'linear', timesteps: options.timesteps ?? 1000 },
    ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
    ...(options.conditional ? { labelDropout: options.labelDropout ?? 0.1, ...(classes ? { classes } : {}) } : {}),
  });
}

/** Builds a fresh task for a new run. */
export function createTask(kind: ModelKind, options: TaskOptions = {}): TrainingTask {
  if (kind !== 'diffusion' && (options.conditional || options.labelDropout !== undefined))
    throw new ValidationError(`--conditional and --label-dropout apply to diffusion runs, not ${kind}`);
  if (kind !== 'classifier' && options.cutout !== undefined) throw new ValidationError(`--cutout applies to classifier runs, not ${kind}`);
  if (kind !== 'energy' && options.objective !== undefined) throw new ValidationError(`--objective applies to energy runs, not ${kind}`);
  if (
    (options.noise !== undefined || options.stepSize !== undefined) &&
    !(kind === 'energy' && options.objective === SCORE_MATCHING_OBJECTIVE)
  )
    throw new ValidationError(
      '--sigma-max, --sigma-min, --noise-levels and --step-size apply to score-matching energy runs (--model energy --objective dsm)',
    );
  switch (kind) {
    case 'diffusion':
      return createDiffusionTask(options);
    case 'energy':
      if (options.objective === SCORE_MATCHING_OBJECTIVE) {
        if (options.langevinSteps !== undefined)
          throw new ValidationError('--langevin-steps sets contrastive divergence negatives; a dsm run trains without Langevin chains');
        return new ScoreEnergyTask({
          net: (options.preset ?? 'resnet-small') as 'resnet-small',
          ...(options.noise ? { noise: options.noise } : {}),
          ...(options.stepSize !== undefined ? { sampling: { stepSize: options.stepSize } } : {}),
          ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
        });
      }
      return new EnergyTask({
        net: (options.preset ?? 'small') as 'small',
        ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
        ...(options.langevinSteps ? { langevin: { steps: options.langevinSteps } } : {}),
      });
    case 'classifier':
      return new ClassifierTask({
        net: (options.preset ?? 'small') as ClassifierPreset,
        ...(options.cutout !== undefined ? { cutout: options.cutout } : {}),
      });
  }
}

/** Rebuilds the task of an existing run from the configuration stored in it. */
export function taskFromConfig(kind: ModelKind, config: Record<string, unknown>): TrainingTask {
  switch (kind) {
    case 'diffusion':
      return DiffusionTask.fromConfig(config);
    case 'energy':
      return isScoreEnergyConfig(config) ? ScoreEnergyTask.fromConfig(config) : EnergyTask.fromConfig(config);
    case 'classifier':
      return ClassifierTask.fromConfig(config);
    default:
      throw new ValidationError(`unknown model kind '${String(kind)}'`);
  }
}

/** Default optimisation settings per kind (flags override them). */
export const DEFAULT_OPTIMIZATION: Record<
  ModelKind,
  { batchSize: number; lr: number; warmupSteps: number; gradClipNorm: number | null; emaDecay: number; beta1: number }
> = {
  // Ho et al. use 2e-4 with batch 128, 5000 warm-up steps, clip 1, EMA 0.9999: scaled down for short runs.
  diffusion: { batchSize: 32, lr: 2e-4, warmupSteps: 100, gradClipNorm: 1, emaDecay: 0.999, beta1: 0.9 },
  // The UvA deep-energy tutorial: Adam(1e-4, β1 = 0).
  energy: { batchSize: 32, lr: 1e-4, warmupSteps: 0, gradClipNorm: 1, emaDecay: 0.999, beta1: 0 },
  classifier: { batchSize: 64, lr: 1e-3, warmupSteps: 0, gradClipNorm: null, emaDecay: 0.99, beta1: 0.9 },
};

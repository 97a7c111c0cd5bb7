import { ValidationError } from '@lab/core';
import { ClassifierTask } from './classifier.js';
import { DiffusionTask } from './diffusion.js';
import { EnergyTask } from './energy.js';
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
  /** Energy only: Langevin steps per training batch. */
  langevinSteps?: number;
}

/** Builds a fresh task for a new run. */
export function createTask(kind: ModelKind, options: TaskOptions = {}): TrainingTask {
  switch (kind) {
    case 'diffusion':
      return new DiffusionTask({
        unet: (options.preset ?? 'tiny') as 'tiny',
        schedule: { kind: options.schedule ?? 'linear', timesteps: options.timesteps ?? 1000 },
        ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
      });
    case 'energy':
      return new EnergyTask({
        net: (options.preset ?? 'small') as 'small',
        ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
        ...(options.langevinSteps ? { langevin: { steps: options.langevinSteps } } : {}),
      });
    case 'classifier':
      return new ClassifierTask({ net: (options.preset ?? 'small') as 'small' });
  }
}

/** Rebuilds the task of an existing run from the configuration stored in it. */
export function taskFromConfig(kind: ModelKind, config: Record<string, unknown>): TrainingTask {
  switch (kind) {
    case 'diffusion':
      return DiffusionTask.fromConfig(config);
    case 'energy':
      return EnergyTask.fromConfig(config);
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

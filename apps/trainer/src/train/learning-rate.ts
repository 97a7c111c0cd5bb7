import { ValidationError } from '@lab/core';

/** How the learning rate falls from `lr` to `minLr` between two steps. */
export type LearningRateDecayKind = 'cosine' | 'linear';

export const LEARNING_RATE_DECAY_KINDS: readonly LearningRateDecayKind[] = ['cosine', 'linear'];

/**
 * An annealing phase: the full rate until `startStep`, then down to `minLr` at `endStep` (the
 * run's last step), following half a cosine or a straight line.
 */
export interface LearningRateDecay {
  readonly kind: LearningRateDecayKind;
  readonly startStep: number;
  readonly endStep: number;
  readonly minLr: number;
}

export interface LearningRateSchedule {
  readonly lr: number;
  /** Linear warm-up from lr/warmupSteps to lr over the first `warmupSteps` steps (default 0). */
  readonly warmupSteps?: number;
  readonly lrDecay?: LearningRateDecay;
}

export function parseDecayKind(value: string): LearningRateDecayKind | undefined {
  if (value === 'none') return undefined;
  if (!(LEARNING_RATE_DECAY_KINDS as readonly string[]).includes(value)) {
    throw new ValidationError(`--lr-decay must be one of none, ${LEARNING_RATE_DECAY_KINDS.join(', ')}, got '${value}'`);
  }
  return value as LearningRateDecayKind;
}

/** Rejects a decay that cannot be followed (an empty or inverted phase, a floor above the rate). */
export function validateDecay(decay: LearningRateDecay, lr: number): void {
  if (!(decay.endStep > decay.startStep)) {
    throw new ValidationError(
      `the learning-rate decay must end after it starts: it starts at step ${decay.startStep} and the run ends at step ${decay.endStep}`,
    );
  }
  if (!(decay.minLr >= 0 && decay.minLr <= lr)) {
    throw new ValidationError(`--min-lr must lie in [0, lr = ${lr}], got ${decay.minLr}`);
  }
}

/** The learning rate of optimiser step `step` (0-based). */
export function learningRateAt(step: number, schedule: LearningRateSchedule): number {
  const { lr, warmupSteps = 0, lrDecay: decay } = schedule;
  const warmup = warmupSteps > 0 ? Math.min(1, (step + 1) / warmupSteps) : 1;
  if (!decay) return lr * warmup;
  const progress = Math.min(1, Math.max(0, (step - decay.startStep) / (decay.endStep - decay.startStep)));
  const fraction = decay.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return (decay.minLr + (lr - decay.minLr) * fraction) * warmup;
}

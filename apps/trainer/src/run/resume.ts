import type { Logger } from '@lab/core';
import { ValidationError } from '@lab/core';
import type { TrainCommandOptions } from '../commands/train.js';
import { type LearningRateDecay, learningRateAt, validateDecay } from '../train/learning-rate.js';
import type { RunInfo } from './run-dir.js';

/**
 * The decay a run follows after `--lr-decay`, `--lr-decay-start` and `--min-lr`, given what it
 * followed before (`previous`), the step it starts or resumes at, and its last step. A decay always
 * ends at the run's last step, so extending a decayed run with `--steps` stretches it.
 */
export function resolveDecay(
  options: Pick<TrainCommandOptions, 'lrDecay' | 'lrDecayStart' | 'minLr'>,
  previous: LearningRateDecay | undefined,
  at: { startStep: number; endStep: number; lr: number },
): LearningRateDecay | undefined {
  if (options.lrDecay === 'none') {
    if (options.lrDecayStart !== undefined || options.minLr !== undefined)
      throw new ValidationError('--lr-decay-start and --min-lr have no effect with --lr-decay none');
    return undefined;
  }
  const kind = options.lrDecay ?? previous?.kind;
  if (!kind) {
    if (options.lrDecayStart !== undefined || options.minLr !== undefined)
      throw new ValidationError('--lr-decay-start and --min-lr need --lr-decay cosine|linear');
    return undefined;
  }
  const decay: LearningRateDecay = {
    kind,
    startStep: options.lrDecayStart ?? previous?.startStep ?? at.startStep,
    endStep: at.endStep,
    minLr: options.minLr ?? previous?.minLr ?? 0,
  };
  validateDecay(decay, at.lr);
  return decay;
}

/** A resumed run keeps the task it was created with: conditioning flags that disagree with it are errors, not silently ignored. */
function checkResumedTaskFlags(existing: RunInfo, options: TrainCommandOptions): void {
  if (options.noise !== undefined || options.stepSize !== undefined)
    throw new ValidationError(
      '--sigma-max, --sigma-min, --noise-levels and --step-size are set when a run starts; they cannot change on --resume',
    );
  if (options.cutout !== undefined && options.cutout !== (existing.task.cutout ?? 0))
    throw new ValidationError(
      `the run trains with --cutout ${String(existing.task.cutout ?? 0)}; it cannot change on --resume (got ${options.cutout})`,
    );
  if (options.conditional === undefined && options.labelDropout === undefined) return;
  const unet = existing.task.unet as { numClasses?: number } | undefined;
  const conditional = existing.kind === 'diffusion' && typeof unet?.numClasses === 'number' && unet.numClasses > 0;
  if (options.conditional !== undefined && options.conditional !== conditional) {
    throw new ValidationError(
      `${existing.kind} run is ${conditional ? 'class-conditional' : 'unconditional'}: --conditional cannot change on --resume`,
    );
  }
  if (options.labelDropout !== undefined && options.labelDropout !== existing.task.labelDropout) {
    throw new ValidationError(
      `the run trains with --label-dropout ${String(existing.task.labelDropout)}; it cannot change on --resume (got ${options.labelDropout})`,
    );
  }
}

/**
 * What `--resume` may change: the length of the run and its logistics (checkpoint and sample
 * cadence, sample count, checkpoints kept), none of which changes the arithmetic of a step, and
 * the learning-rate decay (annealing a run that is already under way is what it is for; it starts
 * at `resumeStep` unless `--lr-decay-start` says otherwise). Returns `existing` itself when
 * nothing changes. (`--workers` is not part of the run at all: `trainCommand` hands it to the
 * trainer on every invocation.)
 */
export function withResumeOverrides(existing: RunInfo, options: TrainCommandOptions, resumeStep = 0): RunInfo {
  const overrides: Partial<RunInfo> = {
    ...(options.steps !== undefined ? { steps: options.steps } : {}),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
    ...(options.sampleEvery !== undefined ? { sampleEvery: options.sampleEvery } : {}),
    ...(options.samples !== undefined ? { sampleCount: options.samples } : {}),
    ...(options.keep !== undefined ? { keepCheckpoints: options.keep } : {}),
  };
  const fixed: [flag: string, given: number | undefined, stored: number | null | undefined][] = [
    ['--batch', options.batch, existing.optimization.batchSize],
    ['--lr', options.lr, existing.optimization.lr],
    ['--warmup', options.warmup, existing.optimization.warmupSteps],
    ['--ema', options.ema, existing.optimization.emaDecay],
    ['--weight-decay', options.weightDecay, existing.optimization.weightDecay ?? 0],
    ['--seed', options.seed, existing.seed],
  ];
  for (const [flag, given, stored] of fixed) {
    if (given !== undefined && given !== stored) {
      throw new ValidationError(`the run trains with ${flag} ${String(stored)}; it cannot change on --resume (got ${given})`);
    }
  }
  const changed = Object.entries(overrides).some(([key, value]) => existing[key as keyof RunInfo] !== value);
  // The micro-batch only splits the same batch (same noise, same sum), so it may change on resume.
  const microBatch = options.microBatch !== undefined && options.microBatch !== existing.optimization.microBatch;
  const previousDecay = existing.optimization.lrDecay;
  const lrDecay = resolveDecay(options, previousDecay, {
    startStep: resumeStep,
    endStep: options.steps ?? existing.steps,
    lr: existing.optimization.lr,
  });
  const decayChanged = JSON.stringify(lrDecay) !== JSON.stringify(previousDecay);
  if (!changed && !microBatch && !decayChanged) return existing;
  const { lrDecay: _previous, ...optimization } = existing.optimization;
  return {
    ...existing,
    ...overrides,
    optimization: {
      ...optimization,
      ...(microBatch ? { microBatch: options.microBatch } : {}),
      ...(lrDecay ? { lrDecay } : {}),
    },
  };
}

/**
 * The run a `train --resume` continues: `existing` with what the flags may change (see
 * `withResumeOverrides`), after refusing flags that would change the task and a `--steps` target
 * behind `resumeStep` (the step of the checkpoint it continues from). Warns when the learning rate
 * at that step changes (a stretched or dropped decay). Returns `existing` itself when nothing changes;
 * the caller stores the result only once training can go on.
 */
export function resumedRunInfo(existing: RunInfo, options: TrainCommandOptions, resumeStep: number, logger: Logger): RunInfo {
  checkResumedTaskFlags(existing, options);
  if (options.steps !== undefined && options.steps < resumeStep) {
    throw new ValidationError(
      `--steps ${options.steps} is behind the run, which is at step ${resumeStep}: give a larger target, or leave --steps out to continue to ${existing.steps}`,
    );
  }
  const info = withResumeOverrides(existing, options, resumeStep);
  if (info !== existing) {
    const before = learningRateAt(resumeStep, existing.optimization);
    const after = learningRateAt(resumeStep, info.optimization);
    // Stretching a finished decay with --steps, or dropping it, makes the rate jump: say so.
    if (Math.abs(after - before) > 1e-3 * before) {
      logger.warn(`the learning rate at step ${resumeStep} changes from ${before.toPrecision(3)} to ${after.toPrecision(3)}`, {
        lrDecay: info.optimization.lrDecay ?? 'none',
      });
    }
  }
  return info;
}

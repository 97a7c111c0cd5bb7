import { resolve } from 'node:path';
import { type Logger, parseBackendName, silentLogger, ValidationError } from '@lab/core';
import type { CifarRecords } from '../data/cifar10-format.js';
import { LiveReport } from '../report/live.js';
import { readTrainerCheckpoint } from '../run/checkpoint-io.js';
import { type InitialWeights, loadInitialWeights } from '../run/load-run.js';
import type { ProgressReporter } from '../run/progress.js';
import { RunDirectory, type RunInfo } from '../run/run-dir.js';
import { type TrainLoopResult, trainLoop } from '../run/train-loop.js';
import { createTask, DEFAULT_OPTIMIZATION, type TaskOptions, taskFromConfig } from '../tasks/index.js';
import type { ModelKind } from '../tasks/types.js';
import { type LearningRateDecay, type LearningRateDecayKind, learningRateAt, validateDecay } from '../train/learning-rate.js';
import { type OptimizationConfig, Trainer } from '../train/trainer.js';
import { type DataOptions, loadSplit } from './data.js';

export interface TrainCommandOptions extends TaskOptions, DataOptions {
  out: string;
  model?: ModelKind;
  resume?: boolean;
  /**
   * A new run starts from these trained weights (an exported model folder or a run) instead of
   * random ones, with their architecture; Adam, the step count and the schedule start afresh.
   */
  initFrom?: string;
  steps?: number;
  batch?: number;
  microBatch?: number;
  lr?: number;
  warmup?: number;
  /** Anneal the learning rate to `minLr` at the run's last step ('none' removes a decay on --resume). */
  lrDecay?: LearningRateDecayKind | 'none';
  /** The step the decay starts at (default: the end of warm-up; on --resume, the step the run is at). */
  lrDecayStart?: number;
  /** The learning rate the decay ends at (default 0). */
  minLr?: number;
  /** Gradient-norm clip; 0 turns it off. */
  gradClip?: number;
  ema?: number;
  seed?: number;
  checkpointEvery?: number;
  sampleEvery?: number;
  samples?: number;
  keep?: number;
  /**
   * Gradient worker threads (default 0). Not stored in the run: it changes where a step is
   * computed, not what, so a resumed run may use another count.
   */
  workers?: number;
  /** Rewrite the run's report.html every this many steps (and at the end); a failure only warns. */
  reportEvery?: number;
  /** A full task configuration instead of a preset (tests, custom architectures). */
  taskConfig?: Record<string, unknown>;
  /** Training records supplied directly (tests); skips loading CIFAR-10. */
  records?: CifarRecords;
  signal?: AbortSignal;
  logger?: Logger;
  progress?: ProgressReporter;
  backend?: string;
}

/**
 * The warm-up of a new run without `--warmup`: the kind's default, but at most 10 % of the run
 * (a short CPU run would otherwise spend most of its steps at a reduced learning rate).
 */
export function defaultWarmup(kind: ModelKind, steps: number): number {
  return Math.min(DEFAULT_OPTIMIZATION[kind].warmupSteps, Math.floor(0.1 * steps));
}

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

/** The flags that choose an architecture: with `--init-from` the architecture is the source's. */
const ARCHITECTURE_FLAGS = [
  'preset',
  'conditional',
  'labelDropout',
  'timesteps',
  'schedule',
  'langevinSteps',
  'objective',
  'taskConfig',
] as const;

async function loadInitFrom(options: TrainCommandOptions): Promise<InitialWeights> {
  const path = options.initFrom as string;
  const fixed = ARCHITECTURE_FLAGS.filter((flag) => options[flag] !== undefined);
  if (fixed.length > 0) {
    throw new ValidationError(
      `--init-from takes the architecture of ${path}; leave out ${fixed.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`,
    );
  }
  const source = await loadInitialWeights(path);
  if (options.model && options.model !== source.kind) {
    source.model.dispose();
    throw new ValidationError(`--init-from ${path} holds a ${source.kind} model; --model ${options.model} does not match it`);
  }
  return source;
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
 * `train`: starts a run in an empty `--out` folder, or with `--resume` continues the run there
 * from its latest checkpoint (with the configuration stored in it; `--steps` may extend it).
 */
export async function trainCommand(options: TrainCommandOptions): Promise<TrainLoopResult & { runDir: string }> {
  const logger = options.logger ?? silentLogger;
  const { dir, info: existing } = await RunDirectory.open(options.out, { resume: options.resume === true });
  // The checkpoint a resumed run continues from (the decay of an annealed resume starts there).
  const latest = existing ? await dir.latestCheckpoint() : undefined;
  if (existing && options.initFrom) {
    throw new ValidationError(
      `--init-from starts a new run; ${dir.path} already holds one (--resume continues it from its own checkpoint)`,
    );
  }
  let info: RunInfo;
  let initial: InitialWeights | undefined;
  if (existing) {
    if (options.model && options.model !== existing.kind) {
      throw new ValidationError(`${dir.path} is a ${existing.kind} run; --model ${options.model} does not match it`);
    }
    checkResumedTaskFlags(existing, options);
    const resumeStep = latest?.step ?? 0;
    if (options.steps !== undefined && options.steps < resumeStep) {
      throw new ValidationError(
        `--steps ${options.steps} is behind the run, which is at step ${resumeStep}: give a larger target, or leave --steps out to continue to ${existing.steps}`,
      );
    }
    info = withResumeOverrides(existing, options, resumeStep);
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
  } else {
    if (options.initFrom) initial = await loadInitFrom(options);
    const kind = initial?.kind ?? options.model;
    if (!kind) throw new ValidationError('--model is required for a new run (diffusion, energy or classifier)');
    const defaults = DEFAULT_OPTIMIZATION[kind];
    const task = initial
      ? taskFromConfig(kind, initial.config)
      : options.taskConfig
        ? taskFromConfig(kind, options.taskConfig)
        : createTask(kind, options);
    const steps = options.steps ?? 1000;
    const lr = options.lr ?? defaults.lr;
    const warmupSteps = options.warmup ?? defaultWarmup(kind, steps);
    const lrDecay = resolveDecay(options, undefined, { startStep: warmupSteps, endStep: steps, lr });
    const optimization: OptimizationConfig = {
      batchSize: options.batch ?? defaults.batchSize,
      ...(options.microBatch ? { microBatch: options.microBatch } : {}),
      lr,
      warmupSteps,
      ...(lrDecay ? { lrDecay } : {}),
      gradClipNorm: options.gradClip === undefined ? defaults.gradClipNorm : options.gradClip > 0 ? options.gradClip : null,
      emaDecay: options.ema ?? defaults.emaDecay,
      emaWarmup: true,
      beta1: defaults.beta1,
    };
    info = {
      format: 1,
      kind,
      created: new Date().toISOString(),
      task: task.config,
      optimization,
      seed: options.seed ?? 1,
      steps,
      data: {
        ...(options.classes && options.classes.length > 0 ? { classes: options.classes } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
      },
      checkpointEvery: options.checkpointEvery ?? Math.max(1, Math.min(500, steps)),
      sampleEvery: options.sampleEvery ?? (kind === 'classifier' ? 0 : Math.max(1, Math.min(500, steps))),
      sampleCount: options.samples ?? 16,
      keepCheckpoints: options.keep ?? 2,
      ...(initial && options.initFrom ? { initFrom: { path: resolve(options.initFrom), step: initial.step } } : {}),
    };
  }

  try {
    return await trainWithInfo(dir, info, existing, latest, initial, options, logger);
  } finally {
    initial?.model.dispose();
  }
}

async function trainWithInfo(
  dir: RunDirectory,
  info: RunInfo,
  existing: RunInfo | undefined,
  latest: { step: number; path: string } | undefined,
  initial: InitialWeights | undefined,
  options: TrainCommandOptions,
  logger: Logger,
): Promise<TrainLoopResult & { runDir: string }> {
  // Data first: a new run's folder gets its run.json only once the data is there.
  const records =
    options.records ??
    (
      await loadSplit('train', {
        ...options,
        ...(info.data.classes ? { classes: info.data.classes } : {}),
        ...(info.data.limit !== undefined ? { limit: info.data.limit } : {}),
      })
    ).records;
  if (!existing) await dir.writeInfo(info);
  const workers = options.workers ?? 0;
  const trainer = new Trainer(taskFromConfig(info.kind, info.task), records, info.optimization, info.seed, {
    workers,
    ...(options.backend ? { backend: parseBackendName(options.backend) } : {}),
  });
  try {
    // A resumed run's new settings are stored only once training can go on from its checkpoint.
    if (existing && info !== existing) await dir.writeInfo(info);
    if (existing && latest) {
      await readTrainerCheckpoint(latest.path, trainer);
      await dir.truncateMetricsAfter(latest.step);
      logger.info('resumed', { run: dir.path, step: latest.step });
    } else if (existing) {
      await dir.truncateMetricsAfter(0);
      // A run started --init-from that stopped before its first checkpoint starts from those weights again.
      if (info.initFrom) {
        const source = await loadInitialWeights(info.initFrom.path);
        try {
          await initializeFrom(trainer, source, info.initFrom);
        } finally {
          source.model.dispose();
        }
      }
      logger.info('no checkpoint yet: starting the run from step 0', {
        run: dir.path,
        ...(info.initFrom ? { initFrom: info.initFrom.path } : {}),
      });
    } else {
      if (initial && info.initFrom) await initializeFrom(trainer, initial, info.initFrom);
      logger.info('new run', {
        run: dir.path,
        kind: info.kind,
        records: records.count,
        ...(info.initFrom ? { initFrom: info.initFrom.path, initStep: info.initFrom.step } : {}),
      });
    }
    if (workers > 0) {
      const shards = Math.min(workers + 1, info.optimization.batchSize);
      logger.info(`data-parallel: ${workers} gradient worker thread(s) + this thread, ${shards} shards per batch`, {
        workers,
        shards,
        batch: info.optimization.batchSize,
      });
    }
    const live = options.reportEvery ? new LiveReport(dir.path, options.reportEvery, logger) : undefined;
    const progress = live ? live.progress(options.progress) : options.progress;
    const result = await trainLoop({
      trainer,
      runDir: dir,
      steps: info.steps,
      checkpointEvery: info.checkpointEvery,
      sampleEvery: info.sampleEvery,
      sampleCount: info.sampleCount,
      sampleSeed: info.seed + 1,
      keepCheckpoints: info.keepCheckpoints,
      logger,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(progress ? { progress } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
    await live?.finish();
    return { ...result, runDir: dir.path };
  } finally {
    trainer.dispose();
  }
}

/** Copies the source's weights into the trainer, checking they are the ones run.json names. */
async function initializeFrom(trainer: Trainer, source: InitialWeights, expected: NonNullable<RunInfo['initFrom']>): Promise<void> {
  if (source.step !== expected.step) {
    throw new ValidationError(`--init-from ${expected.path} is now at step ${source.step}; the run started from step ${expected.step}`);
  }
  trainer.initializeWeights(source.model);
}

import { type Logger, parseBackendName, silentLogger, ValidationError } from '@lab/core';
import type { CifarRecords } from '../data/cifar10-format.js';
import { readTrainerCheckpoint } from '../run/checkpoint-io.js';
import type { ProgressReporter } from '../run/progress.js';
import { RunDirectory, type RunInfo } from '../run/run-dir.js';
import { type TrainLoopResult, trainLoop } from '../run/train-loop.js';
import { createTask, DEFAULT_OPTIMIZATION, type TaskOptions, taskFromConfig } from '../tasks/index.js';
import type { ModelKind } from '../tasks/types.js';
import { type OptimizationConfig, Trainer } from '../train/trainer.js';
import { type DataOptions, loadSplit } from './data.js';

export interface TrainCommandOptions extends TaskOptions, DataOptions {
  out: string;
  model?: ModelKind;
  resume?: boolean;
  steps?: number;
  batch?: number;
  microBatch?: number;
  lr?: number;
  warmup?: number;
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

/**
 * What `--resume` may change: the length of the run and its logistics (checkpoint and sample
 * cadence, sample count, checkpoints kept), none of which changes the arithmetic of a step.
 * Returns `existing` itself when nothing changes. (`--workers` is not part of the run at all:
 * `trainCommand` hands it to the trainer on every invocation.)
 */
export function withResumeOverrides(existing: RunInfo, options: TrainCommandOptions): RunInfo {
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
  if (!changed && !microBatch) return existing;
  return {
    ...existing,
    ...overrides,
    ...(microBatch ? { optimization: { ...existing.optimization, microBatch: options.microBatch } } : {}),
  };
}

/**
 * `train`: starts a run in an empty `--out` folder, or with `--resume` continues the run there
 * from its latest checkpoint (with the configuration stored in it; `--steps` may extend it).
 */
export async function trainCommand(options: TrainCommandOptions): Promise<TrainLoopResult & { runDir: string }> {
  const logger = options.logger ?? silentLogger;
  const { dir, info: existing } = await RunDirectory.open(options.out, { resume: options.resume === true });
  let info: RunInfo;
  if (existing) {
    if (options.model && options.model !== existing.kind) {
      throw new ValidationError(`${dir.path} is a ${existing.kind} run; --model ${options.model} does not match it`);
    }
    checkResumedTaskFlags(existing, options);
    info = withResumeOverrides(existing, options);
    if (info !== existing) await dir.writeInfo(info);
  } else {
    if (!options.model) throw new ValidationError('--model is required for a new run (diffusion, energy or classifier)');
    const kind = options.model;
    const defaults = DEFAULT_OPTIMIZATION[kind];
    const task = options.taskConfig ? taskFromConfig(kind, options.taskConfig) : createTask(kind, options);
    const steps = options.steps ?? 1000;
    const optimization: OptimizationConfig = {
      batchSize: options.batch ?? defaults.batchSize,
      ...(options.microBatch ? { microBatch: options.microBatch } : {}),
      lr: options.lr ?? defaults.lr,
      warmupSteps: options.warmup ?? defaultWarmup(kind, steps),
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
    };
  }

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
    const latest = await dir.latestCheckpoint();
    if (existing && latest) {
      await readTrainerCheckpoint(latest.path, trainer);
      await dir.truncateMetricsAfter(latest.step);
      logger.info('resumed', { run: dir.path, step: latest.step });
    } else if (existing) {
      await dir.truncateMetricsAfter(0);
      logger.info('no checkpoint yet: starting the run from step 0', { run: dir.path });
    } else {
      logger.info('new run', { run: dir.path, kind: info.kind, records: records.count });
    }
    if (workers > 0) {
      const shards = Math.min(workers + 1, info.optimization.batchSize);
      logger.info(`data-parallel: ${workers} gradient worker thread(s) + this thread, ${shards} shards per batch`, {
        workers,
        shards,
        batch: info.optimization.batchSize,
      });
    }
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
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
    return { ...result, runDir: dir.path };
  } finally {
    trainer.dispose();
  }
}

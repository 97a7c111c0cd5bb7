import { resolve } from 'node:path';
import { type Logger, parseBackendName, silentLogger, ValidationError } from '@lab/core';
import { SCORE_MATCHING_OBJECTIVE } from '@lab/energy';
import type { CifarRecords } from '../data/cifar10-format.js';
import { LiveReport } from '../report/live.js';
import { readTrainerCheckpoint } from '../run/checkpoint-io.js';
import { diffusionAsEnergyBody, type InitialWeights, loadInitialWeights } from '../run/load-run.js';
import type { ProgressReporter } from '../run/progress.js';
import { resolveDecay, resumedRunInfo } from '../run/resume.js';
import { RunDirectory, type RunInfo } from '../run/run-dir.js';
import { type TrainLoopResult, trainLoop } from '../run/train-loop.js';
import { createTask, DEFAULT_OPTIMIZATION, type TaskOptions, taskFromConfig } from '../tasks/index.js';
import { ScoreEnergyTask } from '../tasks/score-energy.js';
import type { ModelKind } from '../tasks/types.js';
import type { LearningRateDecayKind } from '../train/learning-rate.js';
import { type OptimizationConfig, Trainer } from '../train/trainer.js';
import { type DataOptions, loadSplit } from './data.js';

// The resume policy lives in run/resume.ts; re-exported for callers that import it from here.
export { resolveDecay, withResumeOverrides } from '../run/resume.js';

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
  /** Decoupled weight decay (AdamW) per unit of learning rate; 0 or absent: none. */
  weightDecay?: number;
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

/** The flags that choose an architecture: with `--init-from` the architecture is the source's. */
const ARCHITECTURE_FLAGS = [
  'preset',
  'conditional',
  'labelDropout',
  'timesteps',
  'schedule',
  'langevinSteps',
  'objective',
  'noise',
  'stepSize',
  'cutout',
  'taskConfig',
] as const;

/** How a flag of {@link ARCHITECTURE_FLAGS} is spelled on the command line. */
function flagName(option: (typeof ARCHITECTURE_FLAGS)[number]): string {
  if (option === 'noise') return '--sigma-max/--sigma-min/--noise-levels';
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** With `--init-from` a diffusion model, a score-matching energy run still chooses these (the rest is the UNet's). */
const ENERGY_FROM_DIFFUSION_FLAGS = new Set<(typeof ARCHITECTURE_FLAGS)[number]>(['objective', 'noise', 'stepSize']);

async function loadInitFrom(options: TrainCommandOptions): Promise<InitialWeights> {
  const path = options.initFrom as string;
  const source = await loadInitialWeights(path);
  try {
    if (options.model === 'energy' && source.kind === 'diffusion') return energyFromDiffusion(source, options);
    // Cutout is how a classifier trains, not what it is: a fine-tuning run may add it.
    const cutoutOnClassifier = source.kind === 'classifier' && options.cutout !== undefined;
    const fixed = ARCHITECTURE_FLAGS.filter((flag) => options[flag] !== undefined && !(flag === 'cutout' && cutoutOnClassifier));
    if (fixed.length > 0) {
      throw new ValidationError(`--init-from takes the architecture of ${path}; leave out ${fixed.map(flagName).join(', ')}`);
    }
    if (options.model && options.model !== source.kind) {
      throw new ValidationError(`--init-from ${path} holds a ${source.kind} model; --model ${options.model} does not match it`);
    }
    return cutoutOnClassifier ? { ...source, config: { ...source.config, cutout: options.cutout } } : source;
  } catch (error) {
    source.model.dispose();
    throw error;
  }
}

/**
 * `--model energy --objective dsm --init-from <diffusion model>`: a score-matching energy whose
 * body is the diffusion model's UNet (`unetEnergy` in @lab/energy), with the run's own noise
 * levels and step size. The diffusion model is disposed; the energy body is returned.
 */
function energyFromDiffusion(source: InitialWeights, options: TrainCommandOptions): InitialWeights {
  const path = options.initFrom as string;
  if (options.objective !== SCORE_MATCHING_OBJECTIVE)
    throw new ValidationError(
      `--init-from ${path} holds a diffusion model: an energy run builds on its UNet only with --objective dsm (score matching)`,
    );
  const fixed = ARCHITECTURE_FLAGS.filter((flag) => options[flag] !== undefined && !ENERGY_FROM_DIFFUSION_FLAGS.has(flag));
  if (fixed.length > 0) throw new ValidationError(`--init-from takes the UNet of ${path}; leave out ${fixed.map(flagName).join(', ')}`);
  const { net, model } = diffusionAsEnergyBody(source);
  source.model.dispose();
  const task = new ScoreEnergyTask({
    net,
    ...(options.noise ? { noise: options.noise } : {}),
    ...(options.stepSize !== undefined ? { sampling: { stepSize: options.stepSize } } : {}),
    ...(options.sampleSteps ? { sampleSteps: options.sampleSteps } : {}),
  });
  return { kind: 'energy', config: task.config, model, step: source.step };
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
    info = resumedRunInfo(existing, options, latest?.step ?? 0, logger);
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
      // Stored only when used: runs written before weight decay existed read the same.
      ...(options.weightDecay ? { weightDecay: options.weightDecay } : {}),
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
        const loaded = await loadInitialWeights(info.initFrom.path);
        let source = loaded;
        if (info.kind === 'energy' && loaded.kind === 'diffusion') {
          try {
            source = { ...loaded, model: diffusionAsEnergyBody(loaded).model };
          } finally {
            loaded.model.dispose();
          }
        }
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

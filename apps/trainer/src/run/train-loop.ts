import { gridPng, type Logger, Rng, silentLogger, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Trainer } from '../train/trainer.js';
import { writeTrainerCheckpoint } from './checkpoint-io.js';
import type { ProgressReporter } from './progress.js';
import type { RunDirectory } from './run-dir.js';

export interface TrainLoopOptions {
  readonly trainer: Trainer;
  readonly runDir: RunDirectory;
  /** Train until this many steps in total have been taken. */
  readonly steps: number;
  readonly checkpointEvery: number;
  /** Preview grid every this many steps (0 = never). */
  readonly sampleEvery: number;
  readonly sampleCount: number;
  /** Seed of the preview noise (the same every time, so grids are comparable across steps). */
  readonly sampleSeed: number;
  /** Sampling steps of the previews (task default when absent). */
  readonly sampleSteps?: number;
  readonly keepCheckpoints: number;
  /** Aborting stops after the current step, writes a checkpoint and returns. */
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly progress?: ProgressReporter;
  /** The tfjs backend, recorded in manifests and metrics. */
  readonly backend?: string;
}

export interface TrainLoopResult {
  readonly step: number;
  readonly stoppedBy: 'done' | 'signal';
  readonly checkpoint: string | undefined;
}

/**
 * Runs the trainer to `steps`: metrics as JSON lines, a preview grid every `sampleEvery` steps,
 * a checkpoint every `checkpointEvery` steps, at the end, and when `signal` aborts.
 */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const { trainer, runDir, steps } = options;
  const logger = options.logger ?? silentLogger;
  let lastCheckpointStep = (await runDir.latestCheckpoint())?.step ?? -1;
  let imagesPerSecond = 0;
  let lastLoss = Number.NaN;
  const checkpoint = async (): Promise<string> => {
    const path = runDir.checkpointPath(trainer.step);
    await writeTrainerCheckpoint(path, trainer, {
      ...(options.backend ? { backend: options.backend } : {}),
      ...(Number.isFinite(lastLoss) ? { metrics: { loss: lastLoss } } : {}),
    });
    lastCheckpointStep = trainer.step;
    await runDir.pruneCheckpoints(options.keepCheckpoints);
    logger.info('checkpoint written', { step: trainer.step, path });
    return path;
  };

  options.progress?.start(steps, trainer.step);
  let stoppedBy: TrainLoopResult['stoppedBy'] = 'done';
  try {
    while (trainer.step < steps) {
      if (options.signal?.aborted) {
        stoppedBy = 'signal';
        break;
      }
      const started = performance.now();
      const result = await trainer.trainStep();
      const seconds = (performance.now() - started) / 1000;
      if (!Number.isFinite(result.loss)) {
        throw new ValidationError(
          `the loss became ${result.loss} at step ${result.step}; the last good checkpoint is step ${lastCheckpointStep} (try a lower --lr or --grad-clip)`,
        );
      }
      lastLoss = result.loss;
      const rate = result.images / seconds;
      // Smoothed rate for the bar; the metrics line keeps the raw one.
      imagesPerSecond = imagesPerSecond === 0 ? rate : 0.9 * imagesPerSecond + 0.1 * rate;
      await runDir.appendMetrics({
        step: result.step,
        loss: result.loss,
        gradNorm: result.gradNorm,
        lr: result.lr,
        imagesPerSecond: rate,
        seconds,
        ...result.metrics,
        time: new Date().toISOString(),
      });
      options.progress?.update(result.step, { loss: result.loss, imagesPerSecond });
      if (options.sampleEvery > 0 && result.step % options.sampleEvery === 0) await writePreview(options, result.step, logger);
      if (result.step % options.checkpointEvery === 0) await checkpoint();
    }
  } finally {
    options.progress?.stop();
  }
  const path = trainer.step !== lastCheckpointStep ? await checkpoint() : runDir.checkpointPath(trainer.step);
  return { step: trainer.step, stoppedBy, checkpoint: path };
}

async function writePreview(options: TrainLoopOptions, step: number, logger: Logger): Promise<void> {
  const { trainer } = options;
  if (!trainer.task.sample) return;
  const samples = await trainer.task.sample(trainer.ema.model, options.sampleCount, new Rng(options.sampleSeed), {
    ...(options.sampleSteps ? { steps: options.sampleSteps } : {}),
  });
  try {
    const png = await gridPng(samples, { columns: Math.ceil(Math.sqrt(options.sampleCount)) });
    const file = await options.runDir.writeSampleGrid(step, png);
    logger.info('sample grid written', { step, file });
  } finally {
    tf.dispose(samples);
  }
}

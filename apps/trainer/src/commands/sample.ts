import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { gridPng, type Logger, Rng, silentLogger, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { loadRunModel } from '../run/load-run.js';
import type { TrainerSamplerName } from '../tasks/types.js';
import { checkStepSize, refuseSampler, refuseStepSize } from './evaluate.js';

export interface SampleCommandOptions {
  run: string;
  out: string;
  n?: number;
  seed?: number;
  /** Sampler steps (diffusion) or Langevin steps (energy). */
  steps?: number;
  /** Diffusion and score-matching energy runs: the sampler (default: the run's own). */
  sampler?: TrainerSamplerName;
  /** Score-matching energy runs only: annealed Langevin's step size ε (default: the run's own). */
  stepSize?: number;
  /** Classifier-free guidance scale (class-conditional diffusion runs; default 1). */
  guidance?: number;
  /** The checkpoint to sample from (default: the latest). */
  step?: number;
  logger?: Logger;
}

/** `sample`: a grid PNG of `n` samples from a run's EMA model (a conditional model's cycle through its classes). */
export async function sampleCommand(options: SampleCommandOptions): Promise<{ path: string; step: number }> {
  checkStepSize(options.stepSize);
  const loaded = await loadRunModel(options.run, options.step !== undefined ? { step: options.step } : {});
  try {
    if (!loaded.task.sample) throw new ValidationError(`a ${loaded.info.kind} run cannot generate samples`);
    refuseSampler(loaded.task, options.sampler, loaded.info.kind, options.run);
    if (options.stepSize !== undefined) refuseStepSize(loaded.task, loaded.info.kind, options.run);
    const n = options.n ?? 16;
    const samples = await loaded.task.sample(loaded.model, n, new Rng(options.seed ?? 0), {
      ...(options.steps ? { steps: options.steps } : {}),
      ...(options.sampler ? { sampler: options.sampler } : {}),
      ...(options.stepSize !== undefined ? { stepSize: options.stepSize } : {}),
      ...(options.guidance !== undefined ? { guidance: options.guidance } : {}),
    });
    try {
      const png = await gridPng(samples, { columns: Math.ceil(Math.sqrt(n)) });
      const path = resolve(options.out);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, png);
      (options.logger ?? silentLogger).info('sample grid written', { path, step: loaded.step });
      return { path, step: loaded.step };
    } finally {
      tf.dispose(samples);
    }
  } finally {
    loaded.model.dispose();
  }
}

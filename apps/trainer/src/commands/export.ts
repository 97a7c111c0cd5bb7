import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type GenlabManifest, type Logger, Rng, saveCheckpoint, silentLogger, ValidationError } from '@lab/core';
import {
  energyFunction,
  isScoreEnergyConfig,
  parseScoreEnergyConfig,
  resolveScoreEnergyConfig,
  type ScoreEnergySampler,
  servedEnergy,
} from '@lab/energy';
import { parseDiffusionConfig } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { recordsToBatch } from '../data/batches.js';
import type { CifarRecords } from '../data/cifar10-format.js';
import { loadRunModel } from '../run/load-run.js';
import { RunDirectory } from '../run/run-dir.js';
import type { TrainerSamplerName, TrainingTask } from '../tasks/types.js';
import { type DataOptions, loadSplit } from './data.js';
import { type EvaluationReport, refuseSampler, resolveEvaluation } from './evaluate.js';

export interface ExportCommandOptions extends DataOptions {
  run: string;
  to: string;
  force?: boolean;
  step?: number;
  /**
   * Score-matching energy models: the annealed-Langevin step ε the exported model samples with by
   * default (the API's default), in place of the run's own, e.g. one chosen by `evaluate --step-size`.
   * Its metrics then come from that evaluation.
   */
  stepSize?: number;
  /**
   * The sampler the exported model serves by default, in place of the run's own: one the run's
   * task offers (diffusion: ddim, dpm-solver++; score-matching energy: langevin, ancestral). Its
   * metrics then come from `evaluate --sampler` of it.
   */
  sampler?: TrainerSamplerName;
  /**
   * The steps the exported model samples with by default (diffusion: `sampleSteps`; score-matching
   * energy: `sampling.steps`, gradient evaluations of its default sampler), e.g. fewer than the
   * run's own where `evaluate --sample-steps` found them as good. Its metrics then come from that
   * evaluation.
   */
  sampleSteps?: number;
  /**
   * Class-conditional diffusion models: the guidance scale a request for a class gets when it
   * names none (the config's `guidance`, the API's `info.defaultGuidance`), e.g. the one
   * `evaluate --guidance` and guided-accuracy.ts found best. The manifest's metrics stay the
   * unguided evaluation's.
   */
  guidance?: number;
  /** Class-conditional diffusion models: the guidance rescale φ guided requests get when they name none (the config's `guidanceRescale`). */
  guidanceRescale?: number;
  /**
   * Classifiers: serve and evaluate with test-time flip averaging (the config's `flipAverage`;
   * see `flipAveraged` in @lab/classifier). The manifest's `testAccuracy` then comes from
   * `evaluate --flip-average` of the exported step, and the single-view one, when evaluated, goes
   * in as `singleViewTestAccuracy`.
   */
  flipAverage?: boolean;
  /** Energy models: how many training images' energies to store for the API's percentiles (default 2000; 0 = none). */
  energyReference?: number;
  /** Training records supplied directly (tests). */
  trainRecords?: CifarRecords;
  logger?: Logger;
}

/** The model key of an exported folder (`models/<key>/model.json`). */
export const EXPORTED_MODEL_KEY = 'model';

/**
 * `export`: the run's EMA weights and a manifest, in the layout the API loads
 * (`<to>/genlab.json` plus the model written by saveCheckpoint). Refuses to replace a
 * non-empty folder unless `force`.
 */
export async function exportCommand(options: ExportCommandOptions): Promise<{ path: string; step: number; manifest: GenlabManifest }> {
  const logger = options.logger ?? silentLogger;
  const to = resolve(options.to);
  if (existsSync(to) && (await readdir(to)).length > 0) {
    if (!options.force) throw new ValidationError(`${to} is not empty: pass --force to replace it`);
  }
  const loaded = await loadRunModel(options.run, options.step !== undefined ? { step: options.step } : {});
  try {
    refuseSampler(loaded.task, options.sampler, loaded.info.kind, options.run);
    const config = withFlipAverage(
      withGuidance(withSampling(loaded.task.config, options), loaded.info.kind, options),
      loaded.info.kind,
      options,
    );
    // The unguided evaluation of the served settings.
    const evaluation = resolveEvaluation(new RunDirectory(options.run), loaded.task, loaded.step, {
      ...(options.sampler === undefined ? {} : { sampler: options.sampler }),
      ...(options.stepSize === undefined ? {} : { stepSize: options.stepSize }),
      ...(options.sampleSteps === undefined ? {} : { sampleSteps: options.sampleSteps }),
      ...(options.flipAverage === true ? { flipAverage: true } : {}),
    });
    const metrics = {
      ...(await manifestMetrics(options.run, loaded.step, evaluation.file)),
      ...(options.flipAverage === true ? await singleViewAccuracy(options.run, loaded.task, loaded.step) : {}),
    };
    const manifest: GenlabManifest = {
      format: 1,
      kind: loaded.info.kind,
      config,
      step: loaded.step,
      dataset: 'cifar10',
      ...(Object.keys(metrics).length > 0 ? { metrics } : {}),
      ...(loaded.manifest.backend ? { backend: loaded.manifest.backend } : {}),
      created: new Date().toISOString(),
    };
    const tensors: Record<string, tf.Tensor> = {};
    const referenceCount = options.energyReference ?? 2000;
    if (loaded.info.kind === 'energy' && referenceCount > 0) {
      const records = options.trainRecords ?? (await loadSplit('train', { ...options, limit: referenceCount })).records;
      tensors.trainingEnergies = await trainingEnergies(loaded.model, loaded.task.config, records, referenceCount);
    }
    try {
      await saveCheckpoint(to, { manifest, models: { [EXPORTED_MODEL_KEY]: loaded.model }, tensors });
    } finally {
      tf.dispose(Object.values(tensors));
    }
    logger.info('exported', { run: options.run, step: loaded.step, to });
    return { path: to, step: loaded.step, manifest };
  } finally {
    loaded.model.dispose();
  }
}

/**
 * The config with the served defaults `export` was given: `sampler` (checked against the task's
 * samplers before), `sampleSteps` and, for a score-matching energy, `stepSize` as its ε; other
 * configs refuse a step size. Each is validated by the config's own rules.
 */
function withSampling(
  config: Record<string, unknown>,
  { stepSize, sampler, sampleSteps }: Pick<ExportCommandOptions, 'stepSize' | 'sampler' | 'sampleSteps'>,
): Record<string, unknown> {
  if (stepSize === undefined && sampler === undefined && sampleSteps === undefined) return config;
  if (!isScoreEnergyConfig(config)) {
    if (stepSize !== undefined)
      throw new ValidationError('--step-size applies to score-matching energy runs (--objective dsm), whose sampler takes a step size');
    if (sampleSteps !== undefined && !(Number.isInteger(sampleSteps) && sampleSteps >= 1))
      throw new ValidationError(`--sample-steps must be an integer ≥ 1, got ${sampleSteps}`);
    // A diffusion config names its default sampler in `sampler` and its steps in `sampleSteps`;
    // a contrastive-divergence energy config its chain length in `sampleSteps`.
    return { ...config, ...(sampler === undefined ? {} : { sampler }), ...(sampleSteps === undefined ? {} : { sampleSteps }) };
  }
  const parsed = parseScoreEnergyConfig(config);
  const sampling = {
    ...parsed.sampling,
    ...(stepSize === undefined ? {} : { stepSize }),
    ...(sampler === undefined ? {} : { sampler: sampler as ScoreEnergySampler }),
    ...(sampleSteps === undefined ? {} : { steps: sampleSteps }),
  };
  return { ...resolveScoreEnergyConfig({ ...parsed, sampling }) };
}

/**
 * The config with the served default `guidance` and `guidanceRescale`, checked by the diffusion
 * config's own rules (class-conditional only, φ in [0, 1]).
 */
function withGuidance(
  config: Record<string, unknown>,
  kind: string,
  { guidance, guidanceRescale }: Pick<ExportCommandOptions, 'guidance' | 'guidanceRescale'>,
): Record<string, unknown> {
  if (guidance === undefined && guidanceRescale === undefined) return config;
  if (kind !== 'diffusion') {
    const flags = [guidance === undefined ? '' : '--guidance', guidanceRescale === undefined ? '' : '--guidance-rescale'].filter(Boolean);
    throw new ValidationError(
      `${flags.join(' and ')} ${flags.length > 1 ? 'apply' : 'applies'} to class-conditional diffusion runs, not to ${kind} runs`,
    );
  }
  const guided = {
    ...config,
    ...(guidance === undefined ? {} : { guidance }),
    ...(guidanceRescale === undefined ? {} : { guidanceRescale }),
  };
  parseDiffusionConfig(guided);
  return guided;
}

/** The config with `flipAverage: true` for `--flip-average`, which only classifiers take. */
function withFlipAverage(config: Record<string, unknown>, kind: string, { flipAverage }: Pick<ExportCommandOptions, 'flipAverage'>) {
  if (flipAverage !== true) return config;
  if (kind !== 'classifier') throw new ValidationError(`--flip-average applies to classifier runs, not to ${kind} runs`);
  return { ...config, flipAverage: true };
}

/** A flip-averaged export's `singleViewTestAccuracy`: the step's plain evaluation, when there is one. */
async function singleViewAccuracy(run: string, task: TrainingTask, step: number): Promise<Record<string, number>> {
  const testAccuracy = (await readEvaluation(resolveEvaluation(new RunDirectory(run), task, step, {}).file))?.testAccuracy;
  return typeof testAccuracy === 'number' ? { singleViewTestAccuracy: testAccuracy } : {};
}

/** An evaluation report `evaluate` wrote, or undefined when there is none. */
async function readEvaluation(file: string): Promise<Partial<EvaluationReport> | undefined> {
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as Partial<EvaluationReport>) : undefined;
}

const TRAIN_METRICS_WINDOW = 100;

/**
 * Figures for the manifest, all of the exported step: the training loss (and task metrics) as
 * `train_*`, averaged over the TRAIN_METRICS_WINDOW steps up to it, and, when `evaluate` has
 * measured that checkpoint (`evaluationFile`: unguided, at the settings the model will serve), its
 * test accuracy or the generated set's FD-cls / KID-cls / IS-cls.
 */
async function manifestMetrics(run: string, step: number, evaluationFile: string): Promise<Record<string, number> | undefined> {
  const dir = new RunDirectory(run);
  const out: Record<string, number> = {};
  // One batch's loss is noisy: average the steps leading up to the exported one.
  const window = (await dir.readMetrics()).filter(
    (r) => typeof r.step === 'number' && r.step > step - TRAIN_METRICS_WINDOW && r.step <= step,
  );
  for (const key of ['loss', 'accuracy', 'ePos', 'eNeg']) {
    const values = window.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) out[`train_${key}`] = values.reduce((a, b) => a + b, 0) / values.length;
  }
  const evaluation = await readEvaluation(evaluationFile);
  if (evaluation) {
    if (typeof evaluation.testAccuracy === 'number') out.testAccuracy = evaluation.testAccuracy;
    const generated = evaluation.sets?.generated;
    if (generated) {
      out['FD-cls'] = generated['FD-cls'];
      out['KID-cls'] = generated['KID-cls'].mean;
      out['IS-cls'] = generated['IS-cls'];
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Energies of the first `count` training images, sorted ascending: the API reports a new image's
 * energy as a percentile of these (`trainingEnergies`, read by the energy plugin).
 */
async function trainingEnergies(
  model: tfl.LayersModel,
  config: Record<string, unknown>,
  records: CifarRecords,
  count: number,
): Promise<tf.Tensor1D> {
  const n = Math.min(count, records.count);
  // The energy the API scores with: a score-matching model's at its least blurred level.
  const energy = isScoreEnergyConfig(config) ? servedEnergy(model, parseScoreEnergyConfig(config)) : energyFunction(model);
  const values = new Float32Array(n);
  const rng = new Rng(0);
  for (let start = 0; start < n; start += 100) {
    const size = Math.min(100, n - start);
    const { images, labels } = recordsToBatch(
      records,
      Array.from({ length: size }, (_, i) => start + i),
      rng,
    );
    const e = energy(images);
    values.set((await e.data()) as Float32Array, start);
    tf.dispose([images, labels, e]);
  }
  values.sort();
  return tf.tensor1d(values, 'float32');
}

import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CIFAR10_CLASS_NAMES, type Logger, Rng, silentLogger, ValidationError } from '@lab/core';
import type { DiffusionSamplerKind } from '@lab/unet';
import type * as tf from '@tensorflow/tfjs-core';
import type { CifarRecords } from '../data/cifar10-format.js';
import { genlabCacheDir } from '../data/cifar10-source.js';
import { type AccuracyReport, classifierAccuracy, formatAccuracy } from '../evaluation/accuracy.js';
import { cachedRecordOutputs, FeatureExtractor, firstOutputs } from '../evaluation/features.js';
import { compareWithReference, formatReport, type SetMetrics } from '../evaluation/report.js';
import { loadClassifier, loadRunModel } from '../run/load-run.js';
import { RunDirectory, writeAtomic } from '../run/run-dir.js';
import type { TrainerSamplerName, TrainingTask } from '../tasks/types.js';
import { type DataOptions, loadSplit } from './data.js';
import { refreshReport } from './report.js';

export interface EvaluateCommandOptions extends DataOptions {
  run: string;
  /** Number of generated samples (and of test / noise images beside them). */
  n?: number;
  /** A classifier run or exported classifier; for a classifier run itself, defaults to the run. */
  classifier?: string;
  /** Real training images the reference statistics use (default 10,000). */
  realCount?: number;
  /**
   * Images per KID subset (10 subsets from each set; default min(1000, n, real count)). Below both
   * set sizes, so that the subsets differ and KID's ± measures something: with the default and
   * n = real count ≤ 1000 every subset is the whole set and the ± is 0.
   */
  kidSubset?: number;
  /** Classifier runs: test images the accuracy is measured on (default: the whole test split, 10,000). */
  testCount?: number;
  batch?: number;
  seed?: number;
  /** Sampler steps (diffusion) or Langevin steps (energy) per sample. */
  sampleSteps?: number;
  /**
   * Diffusion and score-matching energy runs: the sampler (default: the run's own, its config's);
   * another one than the run's is evaluated into its own file.
   */
  sampler?: TrainerSamplerName;
  /**
   * Score-matching energy runs only: annealed Langevin's step size ε (default: the run's own,
   * its config's `sampling.stepSize`); another one than the run's is evaluated into its own file.
   */
  stepSize?: number;
  /** The checkpoint to evaluate (default: the latest). */
  step?: number;
  /** Classifier-free guidance scale of the samples (class-conditional diffusion runs; default 1). */
  guidance?: number;
  /** Guidance rescale φ in [0, 1] of the guided samples (with a `guidance` ≠ 1; default 0). */
  guidanceRescale?: number;
  /**
   * Classifier runs evaluated as themselves: average over each image and its mirror image, as
   * `export --flip-average` bundles are served; evaluated into its own file. (An exported
   * classifier carries its own flag.)
   */
  flipAverage?: boolean;
  cacheDir?: string;
  /** Records supplied directly (tests). */
  trainRecords?: CifarRecords;
  testRecords?: CifarRecords;
  logger?: Logger;
}

export interface EvaluationReport {
  readonly run: string;
  readonly kind: string;
  readonly step: number;
  /** Generative runs: the sampler steps and the guidance scale the samples were drawn with. */
  readonly sampleSteps?: number;
  readonly guidance?: number;
  /** The guidance rescale of the samples, when not 0. */
  readonly guidanceRescale?: number;
  /** Classifier runs: the features and accuracy are flip-averaged (`flipAverage`). */
  readonly flipAverage?: boolean;
  /** The sampler, unless it was DDIM (diffusion runs); always for score-matching energy runs. */
  readonly sampler?: DiffusionSamplerKind | TrainerSamplerName;
  /** Score-matching energy runs: annealed Langevin's step size ε the samples were drawn with. */
  readonly stepSize?: number;
  readonly features: string;
  /** Images per KID subset, when `kidSubset` was given. */
  readonly kidSubsetSize?: number;
  readonly reference: { readonly split: 'train'; readonly count: number; readonly cached: boolean };
  /** Generated samples, the real test set (floor) and uniform noise (ceiling), each against the training set. */
  readonly sets: Record<string, SetMetrics>;
  /** Classifier runs only: top-1 accuracy on the test split (`testCount` images, by default all). */
  readonly testAccuracy?: number;
  /** Classifier runs only: the accuracy's image count and per-class figures. */
  readonly accuracy?: AccuracyReport;
  readonly table: string;
}

export interface ClassifierEvaluationOptions extends DataOptions {
  /** A classifier run or an exported classifier folder. */
  classifier: string;
  /** Test images to measure on (default: the whole test split). */
  testCount?: number;
  batch?: number;
  cacheDir?: string;
  /** Records supplied directly (tests). */
  testRecords?: CifarRecords;
}

/** What `evaluate --classifier C` (without `--run`) reports. */
export interface ClassifierEvaluationReport {
  readonly classifier: string;
  readonly testAccuracy: number;
  readonly accuracy: AccuracyReport;
  readonly table: string;
}

/** Test-split outputs of a classifier, cached like the reference statistics. */
async function testSplitOutputs(
  extractor: FeatureExtractor,
  test: CifarRecords,
  options: { testCount?: number; batch: number; cacheDir: string },
): Promise<Awaited<ReturnType<typeof cachedRecordOutputs>>> {
  const count = options.testCount ?? test.count;
  if (!(Number.isInteger(count) && count >= 1)) throw new ValidationError(`--test-n must be a positive integer, got ${count}`);
  return cachedRecordOutputs(extractor, test, { count, batchSize: options.batch, cacheDir: options.cacheDir, label: 'test' });
}

/**
 * `evaluate --classifier C` without a run: the top-1 accuracy of a classifier (run or export) on
 * the CIFAR-10 test split, overall and per class. Writes nothing.
 */
export async function evaluateClassifierCommand(options: ClassifierEvaluationOptions): Promise<ClassifierEvaluationReport> {
  const classifier = await loadClassifier(options.classifier);
  const extractor = new FeatureExtractor(classifier.model, classifier);
  try {
    const test = options.testRecords ?? (await loadSplit('test', options)).records;
    const { outputs } = await testSplitOutputs(extractor, test, {
      ...(options.testCount !== undefined ? { testCount: options.testCount } : {}),
      batch: options.batch ?? 100,
      cacheDir: options.cacheDir ?? genlabCacheDir(options.env),
    });
    const accuracy = classifierAccuracy(outputs, test.labels);
    return {
      classifier: options.classifier,
      testAccuracy: accuracy.accuracy,
      accuracy,
      table: formatAccuracy(accuracy, CIFAR10_CLASS_NAMES),
    };
  } finally {
    extractor.dispose();
  }
}

/** `--step-size` must be a finite number > 0 (checked before anything is loaded). */
export function checkStepSize(stepSize: number | undefined): void {
  if (stepSize !== undefined && !(Number.isFinite(stepSize) && stepSize > 0))
    throw new ValidationError(`--step-size must be a number > 0, got ${stepSize}`);
}

/** `--sampler` must be one the run's task offers: any other is refused, naming those it takes. */
export function refuseSampler(task: TrainingTask | undefined, sampler: string | undefined, kind: string, path: string): void {
  if (sampler === undefined || task?.samplers?.includes(sampler as TrainerSamplerName)) return;
  const offered = task?.samplers?.length ? `takes --sampler ${task.samplers.join(' or ')}` : 'takes no --sampler';
  const article = /^[aeiou]/.test(kind) ? 'an' : 'a';
  throw new ValidationError(`--sampler ${sampler} does not apply to ${path}: ${article} ${kind} run ${offered}`);
}

/** A run's sampling settings as `evaluate` used them, and the file that records that evaluation. */
export interface ResolvedEvaluation {
  readonly sampler?: TrainerSamplerName;
  readonly sampleSteps?: number;
  readonly stepSize?: number;
  readonly file: string;
}

/**
 * Fills the settings an evaluation did not name from the run's own (its task's default sampler,
 * that sampler's steps, its ε) and names the file after the ones that differ from them: the one
 * place `evaluate` (which writes the file) and `export` (which reads its metrics) agree on it.
 */
export function resolveEvaluation(
  runDir: RunDirectory,
  task: TrainingTask | undefined,
  step: number,
  requested: {
    guidance?: number;
    guidanceRescale?: number;
    sampleSteps?: number;
    sampler?: TrainerSamplerName;
    stepSize?: number;
    flipAverage?: boolean;
  },
): ResolvedEvaluation {
  const runSampler = task?.defaultSampler;
  const sampler = requested.sampler ?? runSampler;
  const defaultSteps = task ? (task.defaultSampleSteps?.(sampler) ?? (task.config.sampleSteps as number | undefined)) : undefined;
  const runStepSize = task?.defaultStepSize;
  const stepSize = requested.stepSize ?? runStepSize;
  const { sampleSteps } = requested;
  const file = runDir.evaluationPath(step, {
    ...(requested.guidance === undefined ? {} : { guidance: requested.guidance }),
    ...(requested.guidanceRescale === undefined ? {} : { guidanceRescale: requested.guidanceRescale }),
    ...(sampleSteps !== undefined && sampleSteps !== defaultSteps ? { sampleSteps } : {}),
    ...(sampler !== runSampler && sampler !== undefined ? { sampler } : {}),
    ...(stepSize !== runStepSize && stepSize !== undefined ? { stepSize } : {}),
    ...(requested.flipAverage === true ? { flipAverage: true } : {}),
  });
  return {
    ...(sampler === undefined ? {} : { sampler }),
    ...((sampleSteps ?? defaultSteps) === undefined ? {} : { sampleSteps: sampleSteps ?? defaultSteps }),
    ...(stepSize === undefined ? {} : { stepSize }),
    file,
  };
}

/**
 * `--step-size` applies to runs sampled by annealed Langevin (score-matching energy), whose task has
 * a default step size: any other run refuses it, naming what it is.
 */
export function refuseStepSize(task: TrainingTask | undefined, kind: string, path: string): void {
  if (task?.defaultStepSize !== undefined) return;
  const what = kind === 'energy' ? 'a contrastive-divergence energy run (plain Langevin)' : `a ${kind} run`;
  throw new ValidationError(`--step-size needs a score-matching energy run (annealed Langevin); ${path} is ${what}`);
}

/**
 * `evaluate`: FD-cls, KID-cls, IS-cls and the predicted-class histogram of N generated samples
 * against the real training set, beside the same metrics for N real test images (what a perfect
 * generator would score) and N uniform-noise images (a useless one). Evaluates the latest
 * checkpoint or the one at `step`, and writes `evaluations/step-N[-guidance-G].json` in the run
 * (`-sampler-K`, `-steps-S` and `-step-size-E` added for another sampler, number of steps or
 * Langevin step size than the run's own).
 */
export async function evaluateCommand(options: EvaluateCommandOptions): Promise<EvaluationReport & { readonly file: string }> {
  const logger = options.logger ?? silentLogger;
  const n = options.n ?? 1000;
  const batch = options.batch ?? 50;
  const guidance = options.guidance ?? 1;
  if (!(Number.isInteger(n) && n >= 2)) throw new ValidationError(`--n must be an integer ≥ 2, got ${n}`);
  if (!(Number.isFinite(guidance) && guidance >= 0)) throw new ValidationError(`--guidance must be a number ≥ 0, got ${guidance}`);
  const guidanceRescale = options.guidanceRescale ?? 0;
  if (!(guidanceRescale >= 0 && guidanceRescale <= 1))
    throw new ValidationError(`--guidance-rescale must be a number in [0, 1], got ${guidanceRescale}`);
  if (guidanceRescale !== 0 && guidance === 1)
    throw new ValidationError('--guidance-rescale rescales guidance: give --guidance G (≠ 1) too');
  checkStepSize(options.stepSize);
  const runDir = await RunDirectory.existing(options.run);
  const info = await runDir.readInfo();
  const classifierPath = options.classifier ?? (info.kind === 'classifier' ? options.run : undefined);
  if (!classifierPath)
    throw new ValidationError('--classifier <classifier run or exported classifier> is required to evaluate a generative run');
  const flipAverage = options.flipAverage === true;
  if (flipAverage && classifierPath !== options.run)
    throw new ValidationError(
      `--flip-average applies to a classifier run evaluated as itself; ${runDir.path} is a ${info.kind} run, and an exported classifier carries its own flag`,
    );
  const stepOption = options.step !== undefined ? { step: options.step } : {};
  // A classifier run evaluated at an older step is also its own feature extractor at that step.
  const classifier = await loadClassifier(classifierPath, classifierPath === options.run ? stepOption : {});
  const extractor = new FeatureExtractor(classifier.model, { flipAverage: classifier.flipAverage || flipAverage });
  let generator: Awaited<ReturnType<typeof loadRunModel>> | undefined;
  try {
    generator = info.kind === 'classifier' ? undefined : await loadRunModel(options.run, stepOption);
    // Checked before any data is read or sample drawn (the task would refuse too, but only at the first batch).
    if (guidance !== 1 && !generator?.task.classConditional) {
      const what = info.kind === 'diffusion' ? 'an unconditional diffusion run' : `a ${info.kind} run`;
      throw new ValidationError(`--guidance needs a class-conditional diffusion run; ${runDir.path} is ${what}`);
    }
    refuseSampler(generator?.task, options.sampler, info.kind, runDir.path);
    if (options.stepSize !== undefined) refuseStepSize(generator?.task, info.kind, runDir.path);
    const train = options.trainRecords ?? (await loadSplit('train', options)).records;
    const test = options.testRecords ?? (await loadSplit('test', options)).records;
    const cacheDir = options.cacheDir ?? genlabCacheDir(options.env);
    const reference = await cachedRecordOutputs(extractor, train, {
      count: options.realCount ?? 10_000,
      batchSize: batch,
      cacheDir,
      label: 'train',
    });
    logger.info('reference features', { count: reference.outputs.count, cached: reference.cached });
    // A classifier run's accuracy needs the whole test split; the test-set metrics use its first n images.
    const accuracyOutputs =
      info.kind === 'classifier'
        ? (await testSplitOutputs(extractor, test, { ...(options.testCount ? { testCount: options.testCount } : {}), batch, cacheDir }))
            .outputs
        : undefined;
    const testOutputs =
      accuracyOutputs && accuracyOutputs.count >= n
        ? { outputs: firstOutputs(accuracyOutputs, n) }
        : await cachedRecordOutputs(extractor, test, { count: n, batchSize: batch, cacheDir, label: 'test' });
    const rng = new Rng(options.seed ?? 0);
    const sets: Record<string, SetMetrics> = {};
    const kidSize = options.kidSubset ?? Math.min(1000, n, reference.outputs.count);
    if (!(Number.isInteger(kidSize) && kidSize >= 2 && kidSize <= Math.min(n, reference.outputs.count)))
      throw new ValidationError(
        `--kid-subset must be an integer in [2, ${Math.min(n, reference.outputs.count)}] (n and real-n), got ${kidSize}`,
      );
    if (kidSize === n && kidSize === reference.outputs.count)
      logger.warn('every KID subset is the whole set, so its ± is 0: give --kid-subset below n and real-n for an error', { kidSize });
    if (generator?.task.sample) {
      const sample = generator.task.sample.bind(generator.task);
      const model = generator.model;
      const sampleRng = rng.fork();
      const generated = await extractor.runAll(n, batch, async (start, size) => {
        logger.info('sampling', { from: start, to: start + size, of: n });
        return sample(model, size, sampleRng, {
          ...(options.sampleSteps ? { steps: options.sampleSteps } : {}),
          ...(options.sampler ? { sampler: options.sampler } : {}),
          ...(options.stepSize !== undefined ? { stepSize: options.stepSize } : {}),
          guidance,
          ...(guidanceRescale === 0 ? {} : { guidanceRescale }),
        });
      });
      sets.generated = compareWithReference(generated, reference.outputs, rng.fork(), kidSize);
    }
    sets.test = compareWithReference(testOutputs.outputs, reference.outputs, rng.fork(), kidSize);
    const noiseRng = rng.fork();
    const noise = await extractor.runAll(n, batch, (_start, size) => noiseRng.uniform([size, 32, 32, 3], -1, 1) as tf.Tensor4D);
    sets.noise = compareWithReference(noise, reference.outputs, rng.fork(), kidSize);

    const accuracy = accuracyOutputs ? classifierAccuracy(accuracyOutputs, test.labels) : undefined;
    const table = [
      formatReport(sets, CIFAR10_CLASS_NAMES),
      ...(accuracy ? ['', 'test accuracy', formatAccuracy(accuracy, CIFAR10_CLASS_NAMES)] : []),
    ].join('\n');
    const step = generator?.step ?? options.step ?? (await runDir.latestCheckpoint())?.step ?? 0;
    const { sampler, sampleSteps, stepSize, file } = resolveEvaluation(runDir, generator?.task, step, {
      guidance,
      guidanceRescale,
      ...(options.sampleSteps === undefined ? {} : { sampleSteps: options.sampleSteps }),
      ...(options.sampler === undefined ? {} : { sampler: options.sampler }),
      ...(options.stepSize === undefined ? {} : { stepSize: options.stepSize }),
      flipAverage,
    });
    const report: EvaluationReport = {
      run: runDir.path,
      kind: info.kind,
      step,
      ...(generator ? { sampleSteps, guidance, ...(guidanceRescale === 0 ? {} : { guidanceRescale }) } : {}),
      ...(sampler && sampler !== 'ddim' ? { sampler } : {}),
      ...(stepSize !== undefined ? { stepSize } : {}),
      ...(flipAverage ? { flipAverage } : {}),
      features: `penultimate layer 'features' of the classifier at ${classifierPath}`,
      ...(options.kidSubset !== undefined ? { kidSubsetSize: kidSize } : {}),
      reference: { split: 'train', count: reference.outputs.count, cached: reference.cached },
      sets,
      ...(accuracy ? { testAccuracy: accuracy.accuracy, accuracy } : {}),
      table,
    };
    await mkdir(dirname(file), { recursive: true });
    await writeAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
    await refreshReport(runDir.path, logger);
    return { ...report, file };
  } finally {
    extractor.dispose();
    generator?.model.dispose();
  }
}

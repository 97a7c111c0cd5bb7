import { join } from 'node:path';
import { type Logger, Rng, silentLogger, ValidationError } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';
import { CIFAR_CLASSES, type CifarRecords } from '../data/cifar10-format.js';
import { genlabCacheDir } from '../data/cifar10-source.js';
import { cachedRecordOutputs, FeatureExtractor } from '../evaluation/features.js';
import { compareWithReference, formatReport, type SetMetrics } from '../evaluation/report.js';
import { loadClassifierModel, loadRunModel } from '../run/load-run.js';
import { RunDirectory, writeAtomic } from '../run/run-dir.js';
import { type DataOptions, loadSplit } from './data.js';

export interface EvaluateCommandOptions extends DataOptions {
  run: string;
  /** Number of generated samples (and of test / noise images beside them). */
  n?: number;
  /** A classifier run or exported classifier; for a classifier run itself, defaults to the run. */
  classifier?: string;
  /** Real training images the reference statistics use (default 10,000). */
  realCount?: number;
  batch?: number;
  seed?: number;
  /** DDIM steps (diffusion) or Langevin steps (energy) per sample. */
  sampleSteps?: number;
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
  readonly features: string;
  readonly reference: { readonly split: 'train'; readonly count: number; readonly cached: boolean };
  /** Generated samples, the real test set (floor) and uniform noise (ceiling), each against the training set. */
  readonly sets: Record<string, SetMetrics>;
  /** Classifier runs only: accuracy on the test images used. */
  readonly testAccuracy?: number;
  readonly table: string;
}

/**
 * `evaluate`: FD-cls, KID-cls, IS-cls and the predicted-class histogram of N generated samples
 * against the real training set, beside the same metrics for N real test images (what a perfect
 * generator would score) and N uniform-noise images (a useless one). Writes `evaluation.json`.
 */
export async function evaluateCommand(options: EvaluateCommandOptions): Promise<EvaluationReport> {
  const logger = options.logger ?? silentLogger;
  const n = options.n ?? 1000;
  const batch = options.batch ?? 50;
  if (!(Number.isInteger(n) && n >= 2)) throw new ValidationError(`--n must be an integer ≥ 2, got ${n}`);
  const runDir = await RunDirectory.existing(options.run);
  const info = await runDir.readInfo();
  const classifierPath = options.classifier ?? (info.kind === 'classifier' ? options.run : undefined);
  if (!classifierPath)
    throw new ValidationError('--classifier <classifier run or exported classifier> is required to evaluate a generative run');
  const extractor = new FeatureExtractor(await loadClassifierModel(classifierPath));
  const generator = info.kind === 'classifier' ? undefined : await loadRunModel(options.run);
  try {
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
    const testOutputs = await cachedRecordOutputs(extractor, test, { count: n, batchSize: batch, cacheDir, label: 'test' });
    const rng = new Rng(options.seed ?? 0);
    const sets: Record<string, SetMetrics> = {};
    const kidSize = Math.min(1000, n, reference.outputs.count);
    if (generator?.task.sample) {
      const sample = generator.task.sample.bind(generator.task);
      const sampleRng = rng.fork();
      const generated = await extractor.runAll(n, batch, async (start, size) => {
        logger.info('sampling', { from: start, to: start + size, of: n });
        return sample(generator.model, size, sampleRng, options.sampleSteps ? { steps: options.sampleSteps } : {});
      });
      sets.generated = compareWithReference(generated, reference.outputs, rng.fork(), kidSize);
    }
    sets.test = compareWithReference(testOutputs.outputs, reference.outputs, rng.fork(), kidSize);
    const noiseRng = rng.fork();
    const noise = await extractor.runAll(n, batch, (_start, size) => noiseRng.uniform([size, 32, 32, 3], -1, 1) as tf.Tensor4D);
    sets.noise = compareWithReference(noise, reference.outputs, rng.fork(), kidSize);

    let testAccuracy: number | undefined;
    if (info.kind === 'classifier') {
      const { probabilities, classes, count } = testOutputs.outputs;
      let correct = 0;
      for (let i = 0; i < count; i++) {
        let best = 0;
        for (let k = 1; k < classes; k++)
          if ((probabilities[i * classes + k] as number) > (probabilities[i * classes + best] as number)) best = k;
        if (best === test.labels[i]) correct += 1;
      }
      testAccuracy = correct / count;
    }
    const table = formatReport(sets, CIFAR_CLASSES);
    const report: EvaluationReport = {
      run: runDir.path,
      kind: info.kind,
      step: generator?.step ?? (await runDir.latestCheckpoint())?.step ?? 0,
      features: `penultimate layer 'features' of the classifier at ${classifierPath}`,
      reference: { split: 'train', count: reference.outputs.count, cached: reference.cached },
      sets,
      ...(testAccuracy !== undefined ? { testAccuracy } : {}),
      table,
    };
    await writeAtomic(join(runDir.path, 'evaluation.json'), `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } finally {
    extractor.dispose();
    generator?.model.dispose();
  }
}

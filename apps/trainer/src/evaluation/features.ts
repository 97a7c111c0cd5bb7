import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flipAveraged } from '@lab/classifier';
import { FEATURES_LAYER, Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { recordsToBatch } from '../data/batches.js';
import type { CifarRecords } from '../data/cifar10-format.js';
import { writeAtomic } from '../run/run-dir.js';

/** Penultimate features and class probabilities of a set of images, row-major. */
export interface ClassifierOutputs {
  readonly count: number;
  readonly dim: number;
  readonly classes: number;
  readonly features: Float32Array;
  readonly probabilities: Float32Array;
}

export interface FeatureExtractorOptions {
  /**
   * Average features and probabilities over each image and its mirror image (a classifier
   * bundle exported with `--flip-average`; see `flipAveraged` in @lab/classifier).
   */
  readonly flipAverage?: boolean;
}

/**
 * Wraps a classifier so one pass yields [features, probabilities]. A classifier whose output
 * layer is named `logits` gets a softmax; any other output is taken as probabilities.
 */
export class FeatureExtractor {
  private readonly model: tfl.LayersModel;
  private readonly outputIsLogits: boolean;
  readonly flipAverage: boolean;

  constructor(
    readonly classifier: tfl.LayersModel,
    options: FeatureExtractorOptions = {},
  ) {
    this.flipAverage = options.flipAverage ?? false;
    let features: tfl.SymbolicTensor;
    try {
      features = classifier.getLayer(FEATURES_LAYER).output as tfl.SymbolicTensor;
    } catch (error) {
      throw new ValidationError(`the classifier has no layer named '${FEATURES_LAYER}' to take features from`, { cause: error });
    }
    const output = classifier.outputs[0] as tfl.SymbolicTensor;
    this.outputIsLogits = classifier.layers.at(-1)?.name === 'logits';
    this.model = tfl.model({ inputs: classifier.inputs, outputs: [features, output] });
  }

  /** Runs one batch [B,32,32,3] in [-1,1] (not disposed). */
  async run(images: tf.Tensor4D): Promise<{ features: Float32Array; probabilities: Float32Array; dim: number; classes: number }> {
    const [features, probabilities] = tf.tidy(() => {
      const pass = (x: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D] => {
        const [f, out] = this.model.predict(x) as tf.Tensor[];
        return [f as tf.Tensor2D, (this.outputIsLogits ? tf.softmax(out as tf.Tensor) : out) as tf.Tensor2D];
      };
      return this.flipAverage ? flipAveraged(images, pass) : pass(images);
    });
    try {
      return {
        features: (await features.data()) as Float32Array,
        probabilities: (await probabilities.data()) as Float32Array,
        dim: features.shape[1],
        classes: probabilities.shape[1],
      };
    } finally {
      tf.dispose([features, probabilities]);
    }
  }

  /** Runs batches produced by `next(start, size)` until `count` images are done. */
  async runAll(
    count: number,
    batchSize: number,
    next: (start: number, size: number) => Promise<tf.Tensor4D> | tf.Tensor4D,
  ): Promise<ClassifierOutputs> {
    const features: Float32Array[] = [];
    const probabilities: Float32Array[] = [];
    let dim = 0;
    let classes = 0;
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const images = await next(start, size);
      try {
        const out = await this.run(images);
        features.push(out.features);
        probabilities.push(out.probabilities);
        dim = out.dim;
        classes = out.classes;
      } finally {
        images.dispose();
      }
    }
    return { count, dim, classes, features: concat(features), probabilities: concat(probabilities) };
  }

  /** A digest of the classifier's weights: the cache key of real-data features. */
  async fingerprint(): Promise<string> {
    const hash = createHash('sha256');
    // Flip-averaged outputs differ from single-view ones of the same weights.
    if (this.flipAverage) hash.update('flip-average');
    for (const w of this.classifier.getWeights()) {
      const data = await w.data();
      hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return hash.digest('hex').slice(0, 16);
  }

  dispose(): void {
    // The wrapper shares the classifier's layers; disposing the classifier frees them.
    this.classifier.dispose();
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Classifier outputs for the first `count` records, in batches (no augmentation). */
export function recordOutputs(
  extractor: FeatureExtractor,
  records: CifarRecords,
  count: number,
  batchSize: number,
): Promise<ClassifierOutputs> {
  const n = Math.min(count, records.count);
  const rng = new Rng(0);
  return extractor.runAll(
    n,
    batchSize,
    (start, size) =>
      recordsToBatch(
        records,
        Array.from({ length: size }, (_, i) => start + i),
        rng,
      ).images,
  );
}

/**
 * Real-data outputs, cached under `cacheDir` by (classifier weights, data, split, count): the
 * real-data statistics are computed once per classifier.
 */
export async function cachedRecordOutputs(
  extractor: FeatureExtractor,
  records: CifarRecords,
  options: { count: number; batchSize: number; cacheDir: string; label: string },
): Promise<{ outputs: ClassifierOutputs; cached: boolean }> {
  const n = Math.min(options.count, records.count);
  const dataHash = createHash('sha256')
    .update(records.labels.subarray(0, n))
    .update(records.pixels.subarray(0, n * 3072))
    .digest('hex')
    .slice(0, 16);
  const key = `${options.label}-${n}-${dataHash}-${await extractor.fingerprint()}`;
  const dir = join(options.cacheDir, 'features');
  const file = join(dir, `${key}.bin`);
  const metaFile = join(dir, `${key}.json`);
  if (existsSync(file) && existsSync(metaFile)) {
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { count: number; dim: number; classes: number };
    const bytes = await readFile(file);
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (all.length === meta.count * (meta.dim + meta.classes)) {
      return {
        cached: true,
        outputs: { ...meta, features: all.slice(0, meta.count * meta.dim), probabilities: all.slice(meta.count * meta.dim) },
      };
    }
  }
  const outputs = await recordOutputs(extractor, records, n, options.batchSize);
  await mkdir(dir, { recursive: true });
  const all = new Float32Array(outputs.features.length + outputs.probabilities.length);
  all.set(outputs.features);
  all.set(outputs.probabilities, outputs.features.length);
  await writeAtomic(file, new Uint8Array(all.buffer));
  await writeAtomic(metaFile, JSON.stringify({ count: outputs.count, dim: outputs.dim, classes: outputs.classes }));
  return { outputs, cached: false };
}

/** The outputs of the first `count` images of a set. */
export function firstOutputs(outputs: ClassifierOutputs, count: number): ClassifierOutputs {
  const n = Math.min(count, outputs.count);
  return {
    count: n,
    dim: outputs.dim,
    classes: outputs.classes,
    features: outputs.features.subarray(0, n * outputs.dim),
    probabilities: outputs.probabilities.subarray(0, n * outputs.classes),
  };
}

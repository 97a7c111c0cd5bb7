import { type ClassifierConfig, type ClassifierPreset, createClassifier, resolveClassifierConfig } from '@lab/classifier';
import { type Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Augmentation } from '../data/batches.js';
import { CIFAR_SIZE } from '../data/cifar10-format.js';
import type { DataBatch, PreparedBatch, TrainingTask } from './types.js';

export interface ClassifierTaskOptions {
  net?: ClassifierPreset | Partial<ClassifierConfig>;
  /** Side of the cutout square erased from every training image (0 or absent: none); see `Augmentation.cutout`. */
  cutout?: number;
}

/** Cross-entropy over [B, K] probabilities (softmax output) or logits, with integer labels. */
export function crossEntropy(output: tf.Tensor, labels: tf.Tensor1D, numClasses: number, isLogits: boolean): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    const logProbs = isLogits ? tf.logSoftmax(output) : tf.log(tf.clipByValue(output, 1e-7, 1));
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), -1))) as tf.Scalar;
  });
}

/** The CIFAR-10 classifier (served by `/classify`, the feature extractor of evaluation): cross-entropy with flips and shifts. */
export class ClassifierTask implements TrainingTask {
  readonly kind = 'classifier' as const;
  readonly config: Record<string, unknown>;
  readonly augmentation: Augmentation;
  private readonly net: ClassifierConfig;

  constructor(options: ClassifierTaskOptions = {}) {
    this.net = resolveClassifierConfig(options.net ?? 'small');
    const cutout = options.cutout ?? 0;
    if (!(Number.isInteger(cutout) && cutout >= 0 && cutout <= CIFAR_SIZE))
      throw new ValidationError(`cutout must be an integer from 0 to ${CIFAR_SIZE}, got ${cutout}`);
    this.augmentation = { flip: true, translate: 4, ...(cutout > 0 ? { cutout } : {}) };
    // Stored only when used: configs written before cutout existed read the same.
    this.config = { net: this.net, ...(cutout > 0 ? { cutout } : {}) };
  }

  static fromConfig(config: Record<string, unknown>): ClassifierTask {
    return new ClassifierTask(config as ClassifierTaskOptions);
  }

  createModel(): tfl.LayersModel {
    return createClassifier(this.net);
  }

  async prepare(_model: tfl.LayersModel, batch: DataBatch, _rng: Rng): Promise<PreparedBatch> {
    return { x: batch.images.clone(), y: batch.labels.clone() };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const output = model.apply(inputs.x as tf.Tensor, { training: true }) as tf.Tensor;
    const labels = inputs.y as tf.Tensor1D;
    const loss = crossEntropy(output, labels, this.net.numClasses, this.net.output === 'logits');
    const accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(output, -1), tf.cast(labels, 'int32')), 'float32')) as tf.Scalar);
    return { loss, metrics: { accuracy } };
  }
}

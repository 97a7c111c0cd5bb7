import type { Rng } from '@lab/core';
import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BaseLayerArgs, LayerConfig, LayerKwargs } from './layer-types.js';

export interface LabelEmbeddingArgs extends BaseLayerArgs {
  /** Number of real classes; index `numClasses` is the reserved null class. */
  numClasses: number;
  /** Output width. */
  units: number;
  /** Seed for the table's initialiser (default: unseeded). */
  seed?: number;
}

/**
 * Class-label embedding with a reserved null class (index `numClasses`) for classifier-free
 * guidance: a learned table of `numClasses + 1` rows. Input: labels `[B]` or `[B, 1]` (int32, or float
 * holding integers); output `[B, units]`. Labels outside `0 … numClasses` embed to zeros, so
 * validate them before calling. Registered for serialisation.
 */
export class LabelEmbedding extends tfl.layers.Layer {
  static readonly className = 'LabelEmbedding';
  readonly numClasses: number;
  readonly units: number;
  readonly seed: number | undefined;
  private table!: tfl.LayerVariable;

  constructor(args: LabelEmbeddingArgs) {
    super(args);
    if (!Number.isInteger(args.numClasses) || args.numClasses < 1)
      throw new ValidationError(`numClasses must be an integer ≥ 1, got ${args.numClasses}`);
    if (!Number.isInteger(args.units) || args.units < 1) throw new ValidationError(`units must be an integer ≥ 1, got ${args.units}`);
    this.numClasses = args.numClasses;
    this.units = args.units;
    this.seed = args.seed;
  }

  /** The index of the null ("no label") class. */
  get nullClass(): number {
    return this.numClasses;
  }

  override build(): void {
    const init = tfl.initializers.randomNormal({ mean: 0, stddev: 1, ...(this.seed === undefined ? {} : { seed: this.seed }) });
    this.table = this.addWeight('table', [this.numClasses + 1, this.units], 'float32', init);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const labels = tf.cast(tf.reshape(Array.isArray(inputs) ? inputs[0]! : inputs, [-1]), 'int32') as tf.Tensor1D;
      // one-hot · table instead of gather: a plain matMul, fast on wasm and with a simple gradient everywhere.
      return tf.matMul(tf.oneHot(labels, this.numClasses + 1), this.table.read());
    });
  }

  override getConfig(): LayerConfig {
    const config: LayerConfig = { ...super.getConfig(), numClasses: this.numClasses, units: this.units };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return config;
  }
}
tf.serialization.registerClass(LabelEmbedding);

/**
 * Classifier-free guidance training: replaces each label by the null class `numClasses`
 * with probability `dropProbability`. Returns a new int32 tensor `[B]`.
 */
export function dropLabels(labels: tf.Tensor1D, dropProbability: number, numClasses: number, rng: Rng): tf.Tensor1D {
  if (!(dropProbability >= 0 && dropProbability <= 1))
    throw new ValidationError(`dropProbability must be in [0, 1], got ${dropProbability}`);
  if (labels.rank !== 1) throw new ValidationError(`labels must be a 1-D tensor [B], got shape [${labels.shape.join(', ')}]`);
  return tf.tidy(() => {
    const drop = tf.less(rng.uniform([labels.shape[0]], 0, 1), dropProbability);
    return tf.where(drop, tf.fill([labels.shape[0]], numClasses, 'int32'), tf.cast(labels, 'int32')) as tf.Tensor1D;
  });
}

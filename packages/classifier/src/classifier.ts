import { FEATURES_LAYER, ValidationError } from '@lab/core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Dropout } from './dropout-layer.js';

export interface ClassifierConfig {
  /** Per-image input shape (default [32, 32, 3], values in [-1, 1]). */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Filters of each stage: two 3×3 convs, each followed by batch norm and ReLU, and one 2× max-pool. */
  readonly channels: readonly number[];
  /**
   * Where a stage max-pools: `after-stage` (VGG: both convs at the stage's input resolution) or
   * `after-first-conv` (the second conv runs at half the resolution: a quarter of its cost, so
   * wider stages fit the same budget). Default `after-stage`.
   */
  readonly pool?: 'after-stage' | 'after-first-conv';
  /** Filters of a 3×3 conv + batch norm + ReLU at full resolution before the stages (0 or absent: none). */
  readonly stem?: number;
  /** Width of the penultimate dense layer, named `features`. */
  readonly featureUnits: number;
  /** Dropout after each stage and before the output (0 = none). */
  readonly dropout: number;
  /** `softmax`: the output is class probabilities (layer `probabilities`); `logits`: raw scores (layer `logits`). */
  readonly output: 'softmax' | 'logits';
  readonly seed?: number;
}

export type ClassifierPreset = 'small' | 'medium' | 'wide';

export const CLASSIFIER_PRESETS: Readonly<Record<ClassifierPreset, ClassifierConfig>> = {
  /** VGG-style 32-64-128 CNN with batch norm (~0.3 M parameters), the usual ≥ 80 % CIFAR-10 shape. */
  small: { inputShape: [32, 32, 3], numClasses: 10, channels: [32, 64, 128], featureUnits: 128, dropout: 0.3, output: 'softmax' },
  /** The same shape at twice the width (~1.2 M parameters): 85 % after 38 epochs of flips and shifts (docs/results.md). */
  medium: { inputShape: [32, 32, 3], numClasses: 10, channels: [64, 128, 256], featureUnits: 256, dropout: 0.3, output: 'softmax' },
  /**
   * 64-256-256 stages that pool after their first conv, behind a 32-filter stem, no dropout
   * (~2.0 M parameters, about `medium`'s FLOPs per image): the layout of fast CIFAR-10
   * training recipes, wide where the resolution is low.
   */
  wide: {
    inputShape: [32, 32, 3],
    numClasses: 10,
    channels: [64, 256, 256],
    featureUnits: 256,
    dropout: 0,
    output: 'softmax',
    pool: 'after-first-conv',
    stem: 32,
  },
};

/** Fills a classifier config from the `small` preset and validates it. */
export function resolveClassifierConfig(options: Partial<ClassifierConfig> | ClassifierPreset = 'small'): ClassifierConfig {
  const config: ClassifierConfig = typeof options === 'string' ? CLASSIFIER_PRESETS[options] : { ...CLASSIFIER_PRESETS.small, ...options };
  if (!config)
    throw new ValidationError(
      `Unknown classifier preset '${String(options)}'; expected one of ${Object.keys(CLASSIFIER_PRESETS).join(', ')}`,
    );
  const positive = (n: number) => Number.isInteger(n) && n >= 1;
  if (config.inputShape.length !== 3 || !config.inputShape.every(positive))
    throw new ValidationError(`inputShape must be [H, W, C], got [${config.inputShape}]`);
  if (!(positive(config.numClasses) && config.numClasses >= 2))
    throw new ValidationError(`numClasses must be an integer ≥ 2, got ${config.numClasses}`);
  if (config.channels.length === 0 || !config.channels.every(positive))
    throw new ValidationError(`channels must be positive integers, got [${config.channels}]`);
  if (config.pool !== undefined && config.pool !== 'after-stage' && config.pool !== 'after-first-conv')
    throw new ValidationError(`pool must be 'after-stage' or 'after-first-conv', got '${String(config.pool)}'`);
  if (config.stem !== undefined && config.stem !== 0 && !positive(config.stem))
    throw new ValidationError(`stem must be 0 or a positive integer, got ${config.stem}`);
  if (!positive(config.featureUnits)) throw new ValidationError(`featureUnits must be a positive integer, got ${config.featureUnits}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new ValidationError(`dropout must be in [0, 1), got ${config.dropout}`);
  if (config.output !== 'softmax' && config.output !== 'logits') throw new ValidationError(`output must be 'softmax' or 'logits'`);
  return config;
}

/**
 * The CIFAR-10 classifier used by `/classify` and as the evaluation feature extractor:
 * input [B, 32, 32, 3] in [-1, 1] → class probabilities [B, K] (or logits). The penultimate
 * layer is named `features` (see `featureExtractor`). Not compiled: compile it to train with `fit`.
 */
export function createClassifier(options: Partial<ClassifierConfig> | ClassifierPreset = 'small'): tfl.LayersModel {
  const config = resolveClassifierConfig(options);
  let seedCount = 0;
  const init = () => {
    seedCount += 1;
    return tfl.initializers.heNormal(config.seed === undefined ? {} : { seed: config.seed + 101 * seedCount });
  };
  const x = tfl.input({ shape: [...config.inputShape], name: 'x' });
  let h: tfl.SymbolicTensor = x;
  const apply = (layer: tfl.layers.Layer) => {
    h = layer.apply(h) as tfl.SymbolicTensor;
  };
  const convBlock = (filters: number) => {
    apply(tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }));
    apply(tfl.layers.batchNormalization());
    apply(tfl.layers.activation({ activation: 'relu' }));
  };
  const pool = () => apply(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  if (config.stem) convBlock(config.stem);
  for (const filters of config.channels) {
    convBlock(filters);
    if (config.pool === 'after-first-conv') pool();
    convBlock(filters);
    if (config.pool !== 'after-first-conv') pool();
    if (config.dropout > 0) apply(new Dropout({ rate: config.dropout }));
  }
  apply(tfl.layers.globalAveragePooling2d({}));
  apply(tfl.layers.dense({ units: config.featureUnits, activation: 'relu', kernelInitializer: init(), name: FEATURES_LAYER }));
  if (config.dropout > 0) apply(new Dropout({ rate: config.dropout }));
  const softmax = config.output === 'softmax';
  apply(
    tfl.layers.dense({
      units: config.numClasses,
      activation: softmax ? 'softmax' : 'linear',
      kernelInitializer: tfl.initializers.glorotUniform(config.seed === undefined ? {} : { seed: config.seed }),
      name: softmax ? 'probabilities' : 'logits',
    }),
  );
  return tfl.model({ inputs: x, outputs: h, name: 'classifier' });
}

/**
 * A model sharing `model`'s weights that outputs its `features` layer (penultimate features for
 * FID-style evaluation). Works for classifiers and energy nets alike; for a conditional energy
 * net it takes the image only.
 */
export function featureExtractor(model: tfl.LayersModel): tfl.LayersModel {
  const layer = model.layers.find((l) => l.name === FEATURES_LAYER);
  if (!layer) throw new ValidationError(`Model '${model.name}' has no layer named '${FEATURES_LAYER}'`);
  const output = layer.output as tfl.SymbolicTensor;
  const name = `${model.name}_features`;
  // Features usually depend on the image alone (a conditional energy net's labels enter after them).
  if (model.inputs.length > 1) {
    try {
      return tfl.model({ inputs: model.inputs[0] as tfl.SymbolicTensor, outputs: output, name });
    } catch {
      // They also depend on the other inputs: keep all of them.
    }
  }
  return tfl.model({ inputs: model.inputs, outputs: output, name });
}

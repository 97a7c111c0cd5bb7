import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EnergyMode } from './energy-net/config.js';
import { applyEnergyNet } from './energy-net/plain-chain.js';

/** Class labels: one label for the whole batch, one per sample, or an int32 tensor [B] (not disposed). */
export type ClassLabels = number | ArrayLike<number> | tf.Tensor1D;

export interface EnergyFunctionOptions {
  /** How to read the model's output (default: inferred — two inputs → conditional, K > 1 outputs → jem, else energy). */
  readonly mode?: EnergyMode;
  /** Conditional: required. JEM: gives E(x, y) = −f(x)[y] instead of E(x) = −logsumexp f(x). */
  readonly classLabel?: ClassLabels;
  /** Run the layers in training mode (spectral norm then advances its power iteration). Default false. */
  readonly training?: boolean;
}

/** Per-sample energies [B], plus the raw logits [B, K] in JEM mode. */
export interface ModelEnergies {
  readonly energies: tf.Tensor1D;
  readonly logits?: tf.Tensor2D;
}

/** The mode a model was built for, read from its inputs and output width. */
export function inferEnergyMode(model: tfl.LayersModel): EnergyMode {
  if (model.inputs.length === 2) return 'conditional';
  const outShape = model.outputs[0]?.shape;
  const width = outShape?.[outShape.length - 1];
  return typeof width === 'number' && width > 1 ? 'jem' : 'energy';
}

/** Classes a JEM or conditional net distinguishes (∞ when the model has no class axis). */
export function numClassesOf(model: tfl.LayersModel, mode: EnergyMode): number {
  if (mode === 'jem') return model.outputs[0]?.shape[1] as number;
  const embedding = model.layers.find((l) => l.name === 'label_embedding') as (tfl.layers.Layer & { inputDim?: number }) | undefined;
  return embedding?.inputDim ?? Number.POSITIVE_INFINITY;
}

/** Labels as an int32 tensor [batch]; validates range when they come from JS values. */
export function labelTensor(labels: ClassLabels, batch: number, numClasses: number): tf.Tensor1D {
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1 || labels.shape[0] !== batch)
      throw new ValidationError(`classLabel tensor must be [${batch}], got [${labels.shape}]`);
    return labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
  }
  const values = typeof labels === 'number' ? new Array<number>(batch).fill(labels) : Array.from(labels);
  if (values.length !== batch) throw new ValidationError(`Expected ${batch} class labels, got ${values.length}`);
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v >= numClasses)
      throw new ValidationError(`Class label must be an integer in [0, ${numClasses}), got ${v}`);
  }
  return tf.tensor1d(values, 'int32');
}

/**
 * Energies of a batch under `model`, with the logits kept in JEM mode (the JEM trainer needs them
 * for its classification term). Differentiable in x and in the weights; call inside `tf.tidy`.
 */
export function modelEnergies(model: tfl.LayersModel, x: tf.Tensor, options: EnergyFunctionOptions = {}): ModelEnergies {
  const mode = options.mode ?? inferEnergyMode(model);
  const kwargs = { training: options.training === true };
  const batch = x.shape[0];
  if (batch === undefined) throw new ValidationError('x must have a batch axis');
  const labels = options.classLabel === undefined ? undefined : labelTensor(options.classLabel, batch, numClassesOf(model, mode));

  if (mode === 'conditional') {
    if (!labels) throw new ValidationError('A conditional energy model needs classLabel');
    const out = model.apply([x, labels], kwargs) as tf.Tensor;
    return { energies: tf.reshape(out, [batch]) };
  }
  const out = applyEnergyNet(model, x, kwargs);
  if (mode === 'jem') {
    const logits = out as tf.Tensor2D;
    if (!labels) return { energies: tf.neg(tf.logSumExp(logits, 1)), logits };
    const picked = tf.sum(tf.mul(logits, tf.oneHot(labels, logits.shape[1])), 1) as tf.Tensor1D;
    return { energies: tf.neg(picked), logits };
  }
  if (out.size !== batch) throw new ValidationError(`An 'energy' model must output one value per sample, got [${out.shape}]`);
  return { energies: tf.reshape(out, [batch]) };
}

/**
 * Turns an energy network into `(x) => energies [B]` for `langevin` from `@lab/samplers`:
 * - `energy`: the network's output;
 * - `conditional`: E(x, y) with the given `classLabel`;
 * - `jem`: E(x) = −logsumexp f(x), or E(x, y) = −f(x)[y] when `classLabel` is given.
 * Works for any input shape the model accepts (images [B,32,32,3], points [B,2], …).
 */
export function energyFunction(model: tfl.LayersModel, options: EnergyFunctionOptions = {}): (x: tf.Tensor) => tf.Tensor1D {
  const mode = options.mode ?? inferEnergyMode(model);
  if (mode === 'conditional' && options.classLabel === undefined) throw new ValidationError('A conditional energy model needs classLabel');
  return (x) => tf.tidy(() => modelEnergies(model, x, { ...options, mode }).energies);
}

import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

type LayerLike = tfl.layers.Layer & { layers?: LayerLike[] };

/**
 * The momentum of each of `model.nonTrainableWeights` (in order). Batch norm moves its moving mean
 * and variance once per training forward pass, as m ← momentum·m + (1 − momentum)·batch value,
 * which is the only kind of non-trainable state the trainer's models have; any other
 * non-trainable weight is an error, since a data-parallel step could not merge it.
 */
export function movingAverageMomenta(model: tfl.LayersModel): number[] {
  const momentumOf = new Map<tfl.LayerVariable, number>();
  const visit = (layer: LayerLike): void => {
    if (layer.getClassName() === 'BatchNormalization') {
      const momentum = layer.getConfig().momentum as number;
      for (const weight of layer.nonTrainableWeights) momentumOf.set(weight, momentum);
    }
    for (const inner of layer.layers ?? []) visit(inner);
  };
  for (const layer of model.layers as LayerLike[]) visit(layer);
  return model.nonTrainableWeights.map((weight) => {
    const momentum = momentumOf.get(weight);
    if (momentum === undefined) {
      throw new ValidationError(
        `--workers cannot merge the non-trainable weight ${weight.name} across threads (only batch-norm moving statistics)`,
      );
    }
    return momentum;
  });
}

/**
 * Sets the moving averages as if every shard's forward passes had run here in batch order. The
 * main thread's shard has already moved `weights` from `initial`; a worker's shard moved its copy
 * from `initial` to `final` in `passes` passes, so after it m = final + momentum^passes·(m − initial).
 */
export function mergeMovingAverages(
  weights: readonly tfl.LayerVariable[],
  momenta: readonly number[],
  initial: readonly Float32Array[],
  shards: ReadonlyArray<{ final: readonly Float32Array[]; passes: number }>,
): void {
  weights.forEach((weight, i) => {
    const start = initial[i] as Float32Array;
    const merged = Float32Array.from(weight.read().dataSync());
    for (const shard of shards) {
      const decay = (momenta[i] as number) ** shard.passes;
      const final = shard.final[i] as Float32Array;
      for (let k = 0; k < merged.length; k++) merged[k] = (final[k] as number) + decay * ((merged[k] as number) - (start[k] as number));
    }
    const value = tf.tensor(merged, weight.read().shape);
    weight.write(value);
    value.dispose();
  });
}

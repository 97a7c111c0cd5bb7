import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { PreparedBatch } from '../../tasks/types.js';
import { type AccumulatedGradients, accumulateGradients, type MicroBatch } from '../gradients.js';
import { sliceMicroBatches } from '../micro-batches.js';
import { mergeMovingAverages } from './moving-statistics.js';
import type { GradientWorkerPool } from './pool.js';
import { type PackedTensor, packRows, type ShardResult } from './protocol.js';
import { shardRanges } from './shards.js';

export interface DataParallelStep {
  readonly pool: GradientWorkerPool;
  readonly model: tfl.LayersModel;
  /** Momentum of each of `model.nonTrainableWeights` (see `movingAverageMomenta`). */
  readonly momenta: readonly number[];
  readonly prepared: PreparedBatch;
  readonly microBatch: number | undefined;
  /** The task's mean loss of a slice of `prepared`, on `model`. */
  readonly loss: (slice: PreparedBatch) => ReturnType<MicroBatch['loss']>;
}

/**
 * `accumulateGradients` of a whole prepared batch, split into pool.size + 1 contiguous shards: the
 * main thread computes the first while each worker computes one of the others on a replica with
 * the same weights. Shard results are weighted by size / batch size, so the gradient, loss and
 * metrics equal the single-thread ones up to float rounding. Each shard is further split into
 * micro-batches of at most `microBatch` samples.
 */
export async function dataParallelGradients(step: DataParallelStep): Promise<AccumulatedGradients> {
  const { pool, model, prepared, microBatch } = step;
  const batchSize = (Object.values(prepared)[0] as tf.Tensor).shape[0] as number;
  const [ownRange, ...workerRanges] = shardRanges(batchSize, pool.size + 1) as [[number, number], ...Array<[number, number]>];
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const computeOwn = () => accumulateGradients(variables, sliceMicroBatches(prepared, ownRange, microBatch, step.loss));
  if (workerRanges.length === 0) return computeOwn();

  // Read before the main shard runs: its forward passes move batch-norm statistics in place.
  // Asynchronous reads: WebGPU has no synchronous ones.
  const weights = await Promise.all(
    model.getWeights().map(async (w) => ({ data: (await w.data()) as PackedTensor['data'], shape: [...w.shape], dtype: w.dtype })),
  );
  const initialNonTrainable = await Promise.all(model.nonTrainableWeights.map(async (w) => Float32Array.from(await w.read().data())));
  const inputs = await Promise.all(
    Object.entries(prepared).map(async ([k, t]) => ({ k, t, values: (await t.data()) as PackedTensor['data'] })),
  );
  const pending = workerRanges.map(([start, end], i) =>
    pool.computeShard(i, {
      weights: weights.map((w) => ({ ...w, data: w.data.slice() })),
      inputs: Object.fromEntries(inputs.map(({ k, t, values }) => [k, packRows(values, t, start, end)])),
      microBatch,
    }),
  );
  // Observed only after the main shard (which blocks this thread while the workers run).
  const settled = Promise.allSettled(pending);
  let own: AccumulatedGradients;
  try {
    own = computeOwn();
  } catch (error) {
    await settled;
    throw error;
  }
  const results = await settled;
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    disposeAccumulated(own);
    throw failed.reason;
  }
  const shards = results.map((r) => (r as PromiseFulfilledResult<ShardResult>).value);
  try {
    if (step.momenta.length > 0) {
      const finals = shards.map((s) => ({ final: s.nonTrainable, passes: s.passes }));
      mergeMovingAverages(model.nonTrainableWeights, step.momenta, initialNonTrainable, finals);
    }
    return combineShards(variables, { count: ownRange[1] - ownRange[0], gradients: own }, shards);
  } finally {
    disposeAccumulated(own);
  }
}

/** Σ (count / total)·value over the main thread's shard (tensors) and the workers' (arrays). */
function combineShards(
  variables: readonly tf.Variable[],
  own: { count: number; gradients: AccumulatedGradients },
  shards: readonly ShardResult[],
): AccumulatedGradients {
  const total = own.count + shards.reduce((n, s) => n + s.count, 0);
  const ownWeight = own.count / total;
  const weighted = (tensor: tf.Tensor, pick: (s: ShardResult) => Float32Array | number, shape: number[]) =>
    shards.reduce(
      (sum, s) => {
        const value = pick(s);
        const part = typeof value === 'number' ? tf.scalar(value) : tf.tensor(value, shape);
        return tf.add(sum, tf.mul(part, s.count / total));
      },
      tf.mul(tensor, ownWeight),
    );
  return tf.tidy(() => {
    const grads: tf.NamedTensorMap = {};
    variables.forEach((v, i) => {
      grads[v.name] = weighted(own.gradients.grads[v.name] as tf.Tensor, (s) => gradientOf(s, i, variables.length), v.shape);
    });
    const metrics = Object.fromEntries(
      Object.entries(own.gradients.metrics).map(([k, m]) => [k, weighted(m, (s) => metricOf(s, k), []) as tf.Scalar]),
    );
    return { loss: weighted(own.gradients.loss, (s) => s.loss, []) as tf.Scalar, metrics, grads };
  });
}

function gradientOf(shard: ShardResult, index: number, expected: number): Float32Array {
  if (shard.grads.length !== expected) throw new Error(`a gradient worker returned ${shard.grads.length} gradients, expected ${expected}`);
  return shard.grads[index] as Float32Array;
}

function metricOf(shard: ShardResult, name: string): number {
  const value = shard.metrics[name];
  if (value === undefined) throw new Error(`a gradient worker did not return the metric ${name}`);
  return value;
}

function disposeAccumulated(a: AccumulatedGradients): void {
  tf.dispose([a.loss, ...Object.values(a.metrics), ...Object.values(a.grads)]);
}

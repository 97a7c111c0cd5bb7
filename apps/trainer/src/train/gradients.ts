import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/** One micro-batch: its number of samples and a function computing its mean loss (plus optional scalar metrics). */
export interface MicroBatch {
  readonly size: number;
  readonly loss: () => { loss: tf.Scalar; metrics?: Record<string, tf.Scalar> };
}

export interface AccumulatedGradients {
  /** Mean loss over all samples of the batch. */
  readonly loss: tf.Scalar;
  /** Per-sample means of the micro-batches' metrics, weighted like the loss. */
  readonly metrics: Record<string, tf.Scalar>;
  /** Gradients of the mean loss, keyed by variable name, in the order of `variables`. */
  readonly grads: tf.NamedTensorMap;
}

/**
 * Gradients of a batch computed over micro-batches, one `tf.variableGrads` each, summed with
 * weights size_i / N. When every micro-batch loss is a mean over its samples, this equals the
 * gradient of the whole batch's mean loss (up to float rounding), while only one micro-batch's
 * activations are held at a time. (Not exact for layers that mix samples, like batch norm.)
 */
export function accumulateGradients(variables: readonly tf.Variable[], microBatches: readonly MicroBatch[]): AccumulatedGradients {
  if (microBatches.length === 0) throw new ValidationError('accumulateGradients needs at least one micro-batch');
  const total = microBatches.reduce((n, m) => n + m.size, 0);
  let sum: tf.Tensor[] | undefined;
  let lossSum: tf.Scalar | undefined;
  let metricSums: Record<string, tf.Scalar> = {};
  for (const micro of microBatches) {
    const weight = micro.size / total;
    let metrics: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const out = micro.loss();
      metrics = Object.fromEntries(Object.entries(out.metrics ?? {}).map(([k, v]) => [k, tf.keep(v)]));
      return out.loss;
    }, variables as tf.Variable[]);
    const previous = { sum, lossSum, metricSums };
    const next = tf.tidy(() => {
      const scaled = variables.map((v) => {
        const g = grads[v.name];
        if (!g) throw new ValidationError(`no gradient for variable ${v.name}: is it used by the loss?`);
        return tf.mul(g, weight);
      });
      return {
        sum: previous.sum ? scaled.map((g, i) => tf.add(previous.sum?.[i] as tf.Tensor, g)) : scaled,
        lossSum: (previous.lossSum ? tf.add(previous.lossSum, tf.mul(value, weight)) : tf.mul(value, weight)) as tf.Scalar,
        metricSums: Object.fromEntries(
          Object.entries(metrics).map(([k, m]) => {
            const prior = previous.metricSums[k];
            return [k, (prior ? tf.add(prior, tf.mul(m, weight)) : tf.mul(m, weight)) as tf.Scalar];
          }),
        ),
      };
    });
    tf.dispose([value, ...Object.values(grads), ...Object.values(metrics)]);
    tf.dispose([...(previous.sum ?? []), ...(previous.lossSum ? [previous.lossSum] : []), ...Object.values(previous.metricSums)]);
    sum = next.sum;
    lossSum = next.lossSum;
    metricSums = next.metricSums;
  }
  const grads: tf.NamedTensorMap = {};
  variables.forEach((v, i) => {
    grads[v.name] = sum?.[i] as tf.Tensor;
  });
  return { loss: lossSum as tf.Scalar, metrics: metricSums, grads };
}

/**
 * The global L2 norm over every tensor of `grads`. (`tf.addN` over ~250 tensors needs @lab/core's
 * chunked AddN on webgpu, which `initBackend` registers: the stock kernel returns garbage there.)
 */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  if (grads.length === 0) throw new ValidationError('globalNorm needs at least one gradient');
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Scales all gradients by min(1, maxNorm / ‖g‖) where ‖g‖ is the global L2 norm over every
 * tensor. Returns new tensors (inputs are not disposed) and the norm before clipping.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new ValidationError(`gradient clip norm must be > 0, got ${maxNorm}`);
  return tf.tidy(() => {
    const names = Object.keys(grads);
    const norm = globalNorm(Object.values(grads));
    // Add a tiny epsilon so a zero gradient does not divide by zero.
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-12)));
    const clipped: tf.NamedTensorMap = {};
    for (const n of names) clipped[n] = tf.mul(grads[n] as tf.Tensor, scale);
    return { grads: clipped, norm };
  });
}

/** Splits a batch of `size` into micro-batches of at most `micro` samples: [start, end) ranges. */
export function microBatchRanges(size: number, micro: number | undefined): Array<[number, number]> {
  const step = micro && micro > 0 ? Math.min(micro, size) : size;
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += step) ranges.push([start, Math.min(size, start + step)]);
  return ranges;
}

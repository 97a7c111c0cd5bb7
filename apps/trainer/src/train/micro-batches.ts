import * as tf from '@tensorflow/tfjs-core';
import type { PreparedBatch } from '../tasks/types.js';
import { type MicroBatch, microBatchRanges } from './gradients.js';

type SliceLoss = (slice: PreparedBatch) => ReturnType<MicroBatch['loss']>;

/**
 * The micro-batches of rows [start, end) of a prepared batch, at most `microBatch` rows each,
 * whose loss is `loss` of that slice. A slice covering a whole tensor is the tensor itself (no copy).
 */
export function sliceMicroBatches(
  prepared: PreparedBatch,
  [start, end]: [number, number],
  microBatch: number | undefined,
  loss: SliceLoss,
): MicroBatch[] {
  return microBatchRanges(end - start, microBatch).map(([from, to]) => ({
    size: to - from,
    loss: () => loss(sliceRows(prepared, start + from, start + to)),
  }));
}

function sliceRows(prepared: PreparedBatch, start: number, end: number): PreparedBatch {
  return Object.fromEntries(
    Object.entries(prepared).map(([k, t]) => [k, start === 0 && end === t.shape[0] ? t : tf.slice(t, start, end - start)]),
  );
}

import type { BackendName } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelKind } from '../../tasks/types.js';

/** A tensor as it crosses a thread boundary: its own copy of the data (transferable), shape and dtype. */
export interface PackedTensor {
  readonly data: Float32Array | Int32Array | Uint8Array;
  readonly shape: number[];
  readonly dtype: tf.DataType;
}

/** The first message to a gradient worker: which replica to build, on which backend. */
export interface InitMessage {
  readonly type: 'init';
  readonly kind: ModelKind;
  readonly config: Record<string, unknown>;
  readonly backend: BackendName;
}

/** One shard of one step: the main model's weights (`getWeights()` order) and the shard's prepared inputs. */
export interface ShardMessage {
  readonly type: 'shard';
  readonly id: number;
  readonly weights: PackedTensor[];
  readonly inputs: Record<string, PackedTensor>;
  readonly microBatch: number | undefined;
}

export type WorkerRequest = InitMessage | ShardMessage;

/** What a worker computed for its shard: gradients of its mean loss and where its non-trainable weights ended. */
export interface ShardResult {
  readonly count: number;
  /** Per trainable weight, in `trainableWeights` order. */
  readonly grads: Float32Array[];
  readonly loss: number;
  readonly metrics: Record<string, number>;
  /** Per non-trainable weight (`nonTrainableWeights` order), its value after the shard's forward passes. */
  readonly nonTrainable: Float32Array[];
  /** Forward passes taken (one per micro-batch): batch-norm moving averages moved once per pass. */
  readonly passes: number;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type WorkerReply = { id: number; ok: true; result: ShardResult } | { id: number; ok: false; error: SerializedError };

/** Reads a tensor into a new typed array (never the backend's own buffer, which a transfer would detach). */
export function packTensor(tensor: tf.Tensor): PackedTensor {
  const data = tensor.dataSync() as PackedTensor['data'];
  return { data: data.slice(), shape: [...tensor.shape], dtype: tensor.dtype };
}

/** Rows [start, end) of a batch-first tensor whose values were read as `values`, as a new array. */
export function packRows(values: PackedTensor['data'], tensor: tf.Tensor, start: number, end: number): PackedTensor {
  const rowLength = tensor.shape.slice(1).reduce((n, d) => n * d, 1);
  return { data: values.slice(start * rowLength, end * rowLength), shape: [end - start, ...tensor.shape.slice(1)], dtype: tensor.dtype };
}

export function unpackTensor(packed: PackedTensor): tf.Tensor {
  return tf.tensor(packed.data, packed.shape, packed.dtype);
}

/** The buffers of `arrays` to hand over rather than copy in postMessage (each array must own its buffer). */
export function transferablesOf(arrays: readonly ArrayBufferView[]): ArrayBuffer[] {
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { name: 'Error', message: String(error) };
}

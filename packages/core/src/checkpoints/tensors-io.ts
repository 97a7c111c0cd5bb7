import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors.js';
import type { CheckpointWriter } from './fs-writer.js';
import { isRecord, readCheckpointFile, readCheckpointJson } from './read.js';

export const TENSORS_JSON = 'tensors.json';
export const TENSORS_BIN = 'tensors.bin';

interface TensorEntry {
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  offset: number;
  byteLength: number;
}

const BYTES = { float32: 4, int32: 4, bool: 1 } as const;

/** Writes named tensors (optimizer slots, replay buffers) as one raw little-endian blob plus an index. */
export async function writeTensors(dir: string, tensors: Record<string, tf.Tensor>, writer: CheckpointWriter): Promise<void> {
  const index: Record<string, TensorEntry> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32' && tensor.dtype !== 'bool') {
      throw new TypeError(`Cannot store tensor '${name}' of dtype ${tensor.dtype}`);
    }
    const values = await tensor.data();
    const bytes =
      tensor.dtype === 'bool' ? Uint8Array.from(values as Uint8Array) : new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    index[name] = { dtype: tensor.dtype, shape: [...tensor.shape], offset, byteLength: bytes.byteLength };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  const blob = new Uint8Array(offset);
  let at = 0;
  for (const part of parts) {
    blob.set(part, at);
    at += part.byteLength;
  }
  await writer.writeFile(path.join(dir, TENSORS_BIN), blob);
  await writer.writeFile(path.join(dir, TENSORS_JSON), JSON.stringify(index));
}

/** Reads tensors written by `writeTensors`; a short or inconsistent blob is a CheckpointError. */
export async function readTensors(dir: string): Promise<Record<string, tf.Tensor>> {
  const indexFile = path.join(dir, TENSORS_JSON);
  const blobFile = path.join(dir, TENSORS_BIN);
  const index = await readCheckpointJson(indexFile);
  if (!isRecord(index)) throw new CheckpointError(indexFile, 'Tensor index is not a JSON object');
  const blob = await readCheckpointFile(blobFile);
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, raw] of Object.entries(index)) {
      const entry = raw as TensorEntry;
      const bytesPer = BYTES[entry.dtype];
      const count = Array.isArray(entry.shape) ? entry.shape.reduce((a, b) => a * b, 1) : Number.NaN;
      if (bytesPer === undefined || count * bytesPer !== entry.byteLength)
        throw new CheckpointError(indexFile, `Bad entry for tensor '${name}'`);
      if (entry.offset + entry.byteLength > blob.byteLength) {
        throw new CheckpointError(
          blobFile,
          `Tensor data is truncated: '${name}' needs bytes up to ${entry.offset + entry.byteLength}, file has ${blob.byteLength}`,
        );
      }
      const bytes = blob.slice(entry.offset, entry.offset + entry.byteLength);
      const values =
        entry.dtype === 'float32' ? new Float32Array(bytes.buffer) : entry.dtype === 'int32' ? new Int32Array(bytes.buffer) : bytes;
      out[name] = tf.tensor(values, entry.shape, entry.dtype);
    }
  } catch (error) {
    tf.dispose(Object.values(out));
    throw error;
  }
  return out;
}

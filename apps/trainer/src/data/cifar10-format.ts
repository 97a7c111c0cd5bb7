import { basename } from 'node:path';
import { ValidationError } from '@lab/core';

/** Side length of a CIFAR-10 image. */
export const CIFAR_SIZE = 32;
/** Pixel bytes of one record: the red, green and blue planes, each 32×32 row-major. */
export const CIFAR_PIXELS = CIFAR_SIZE * CIFAR_SIZE * 3;
/** Bytes of one record: one label byte followed by the pixel planes. */
export const CIFAR_RECORD_BYTES = 1 + CIFAR_PIXELS;
/** Records in each official batch file (`data_batch_1.bin` … `test_batch.bin`). */
export const CIFAR_RECORDS_PER_FILE = 10_000;
export const CIFAR_TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
] as const;
export const CIFAR_TEST_FILES = ['test_batch.bin'] as const;

/** Decoded records of one or more batch files, kept as compact uint8 planes. */
export interface CifarRecords {
  /** `count × 3072` bytes, each record in the file's planar R, G, B order. */
  readonly pixels: Uint8Array;
  /** `count` labels, 0–9. */
  readonly labels: Uint8Array;
  readonly count: number;
}

/**
 * Parses the bytes of one CIFAR-10 binary batch file.
 *
 * `expectedRecords` (the official files hold 10,000) turns any other size into an error; without it
 * any whole number of records is accepted, which is what small fixtures need. A size that is not a
 * whole number of 3073-byte records means the last record is truncated; both errors name the file.
 */
export function parseCifarBatch(bytes: Uint8Array, file: string, options: { expectedRecords?: number } = {}): CifarRecords {
  const name = basename(file);
  const expected = options.expectedRecords;
  if (expected !== undefined && bytes.length !== expected * CIFAR_RECORD_BYTES) {
    throw new ValidationError(
      `${name}: ${bytes.length} bytes, expected ${expected * CIFAR_RECORD_BYTES} (${expected} records of ${CIFAR_RECORD_BYTES} bytes: 1 label + 3072 pixels)`,
      { details: { file, size: bytes.length, expectedSize: expected * CIFAR_RECORD_BYTES } },
    );
  }
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD_BYTES !== 0) {
    const whole = Math.floor(bytes.length / CIFAR_RECORD_BYTES);
    throw new ValidationError(
      bytes.length === 0
        ? `${name}: the file is empty, expected records of ${CIFAR_RECORD_BYTES} bytes (1 label + 3072 pixels)`
        : `${name}: ${bytes.length} bytes is not a whole number of ${CIFAR_RECORD_BYTES}-byte records: record ${whole} is truncated ` +
            `(${bytes.length - whole * CIFAR_RECORD_BYTES} of ${CIFAR_RECORD_BYTES} bytes; expected ${(whole + 1) * CIFAR_RECORD_BYTES} bytes)`,
      { details: { file, size: bytes.length } },
    );
  }
  const count = bytes.length / CIFAR_RECORD_BYTES;
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * CIFAR_PIXELS);
  for (let i = 0; i < count; i++) {
    const offset = i * CIFAR_RECORD_BYTES;
    const label = bytes[offset] as number;
    if (label > 9) {
      throw new ValidationError(`${name}: record ${i} has label ${label}, expected 0–9 (is this a CIFAR-100 or corrupted file?)`, {
        details: { file, record: i, label },
      });
    }
    labels[i] = label;
    pixels.set(bytes.subarray(offset + 1, offset + CIFAR_RECORD_BYTES), i * CIFAR_PIXELS);
  }
  return { pixels, labels, count };
}

/** Concatenates the records of several files (in order). */
export function concatRecords(parts: readonly CifarRecords[]): CifarRecords {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const pixels = new Uint8Array(count * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const part of parts) {
    pixels.set(part.pixels, at * CIFAR_PIXELS);
    labels.set(part.labels, at);
    at += part.count;
  }
  return { pixels, labels, count };
}

/** Keeps only the records whose label is in `classes`. */
export function filterClasses(records: CifarRecords, classes: readonly number[]): CifarRecords {
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c > 9) throw new ValidationError(`class filter: ${c} is not a CIFAR-10 class index 0–9`);
  }
  const keep = new Set(classes);
  const indices: number[] = [];
  for (let i = 0; i < records.count; i++) if (keep.has(records.labels[i] as number)) indices.push(i);
  const pixels = new Uint8Array(indices.length * CIFAR_PIXELS);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    pixels.set(records.pixels.subarray(src * CIFAR_PIXELS, (src + 1) * CIFAR_PIXELS), dst * CIFAR_PIXELS);
    labels[dst] = records.labels[src] as number;
  });
  return { pixels, labels, count: indices.length };
}

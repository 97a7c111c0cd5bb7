import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A small synthetic CIFAR-10 folder for the trainer CLI (`--data-dir`), so the "both cores" bench
 * needs neither the real data set nor a download. The layout is the official binary one, as
 * apps/trainer/src/data/cifar10-format.ts parses it: records of 1 label byte (0–9) followed by
 * 3072 pixel bytes (the R, G and B planes, each 32×32 row-major), in `data_batch_1.bin` …
 * `data_batch_5.bin` and `test_batch.bin`. The trainer requires all six files to exist and every
 * file to hold as many records as `data_batch_1.bin`.
 */
export const SYNTHETIC_CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3;
export const SYNTHETIC_CIFAR_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
  'test_batch.bin',
] as const;

/**
 * `count` records with labels `(first + i) % 10` and pseudo-random pixels (a fixed xorshift
 * stream per record, so the bytes are the same on every run). Speed does not depend on the
 * pixel values; random ones just keep the loss from being trivially zero.
 */
export function syntheticCifarBytes(count: number, first = 0): Uint8Array {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`record count must be a positive integer, got ${count}`);
  const bytes = new Uint8Array(count * SYNTHETIC_CIFAR_RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const record = first + r;
    const base = r * SYNTHETIC_CIFAR_RECORD_BYTES;
    bytes[base] = record % 10;
    let state = (record + 1) * 0x9e3779b1;
    for (let i = 1; i < SYNTHETIC_CIFAR_RECORD_BYTES; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      bytes[base + i] = state & 0xff;
    }
  }
  return bytes;
}

/** Writes `<parent>/cifar-10-batches-bin` with `perFile` records in each of the six files; returns its path. */
export function writeSyntheticCifarDir(parent: string, perFile = 64): string {
  const dir = join(parent, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  SYNTHETIC_CIFAR_FILES.forEach((name, i) => {
    writeFileSync(join(dir, name), syntheticCifarBytes(perFile, i * perFile));
  });
  writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return dir;
}

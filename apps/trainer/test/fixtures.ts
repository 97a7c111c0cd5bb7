import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import * as tar from 'tar';
import { CIFAR_RECORD_BYTES, CIFAR_TEST_FILES, CIFAR_TRAIN_FILES } from '../src/data/cifar10-format.js';

/** A diffusion task config small enough for CPU tests (tiny preset, 8 base channels, no attention). */
export const MICRO_DIFFUSION = {
  unet: {
    preset: 'tiny',
    baseChannels: 8,
    channelMults: [1, 2],
    numResBlocks: 1,
    attentionResolutions: [],
    groups: 4,
    midAttention: false,
    seed: 3,
  },
  schedule: { kind: 'linear', timesteps: 50 },
  sampleSteps: 2,
};

/**
 * A record whose pixels are a known function of (record, channel, y, x), so tests can check the
 * decoding independently: value = (7·record + 50·channel + 3·y + x) mod 256.
 */
export function fixturePixel(record: number, channel: number, y: number, x: number): number {
  return (7 * record + 50 * channel + 3 * y + x) % 256;
}

/** `count` CIFAR records in the official layout; labels are `record mod 10` (offset by `first`). */
export function makeCifarBytes(count: number, first = 0): Uint8Array {
  const bytes = new Uint8Array(count * CIFAR_RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const record = first + r;
    const base = r * CIFAR_RECORD_BYTES;
    bytes[base] = record % 10;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) bytes[base + 1 + c * 1024 + y * 32 + x] = fixturePixel(record, c, y, x);
      }
    }
  }
  return bytes;
}

/** Writes a small `cifar-10-batches-bin` folder (`perFile` records per file) and returns its path. */
export async function writeCifarDir(parent: string, perFile = 40): Promise<string> {
  const dir = join(parent, 'cifar-10-batches-bin');
  await mkdir(dir, { recursive: true });
  let first = 0;
  for (const name of [...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES]) {
    await writeFile(join(dir, name), makeCifarBytes(perFile, first));
    first += perFile;
  }
  await writeFile(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return dir;
}

/** A gzipped tarball holding `cifar-10-batches-bin/…`, like the official archive but tiny. */
export async function makeCifarTarball(perFile = 20): Promise<Uint8Array> {
  const root = await mkdtemp(join(tmpdir(), 'genlab-tar-'));
  await writeCifarDir(root, perFile);
  const chunks: Buffer[] = [];
  const stream = tar.c({ gzip: true, cwd: root, portable: true }, ['cifar-10-batches-bin']);
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
}

export async function tempDir(prefix = 'genlab-trainer-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Every weight of a model, read back (in order). */
export async function weightsOf(model: { getWeights(): tf.Tensor[] }): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** The largest element-wise difference of two weight lists; Infinity when either is missing or they differ in length. */
export function maxAbsDiff(a: Float32Array[] | undefined, b: Float32Array[] | undefined): number {
  if (!a || !b || a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  a.forEach((arr, i) => {
    arr.forEach((v, j) => {
      worst = Math.max(worst, Math.abs(v - (b[i]?.[j] as number)));
    });
  });
  return worst;
}

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError, Rng, UnavailableError, ValidationError } from '@lab/core';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import { CifarBatches, recordsToBatch } from '../src/data/batches.js';
import { CIFAR_RECORD_BYTES, filterClasses, parseCifarBatch } from '../src/data/cifar10-format.js';
import { loadCifarSplit, resolveCifarDir } from '../src/data/cifar10-source.js';
import { fixturePixel, makeCifarBytes, makeCifarTarball, tempDir, writeCifarDir } from './fixtures.js';

beforeAll(async () => {
  await useTestBackend();
});

describe('parseCifarBatch', () => {
  it('decodes labels and planar RGB records', () => {
    const records = parseCifarBatch(makeCifarBytes(12, 5), 'x.bin');
    expect(records.count).toBe(12);
    expect(Array.from(records.labels)).toEqual(Array.from({ length: 12 }, (_, i) => (5 + i) % 10));
    // record 3 (global 8), green plane, y=4, x=9
    expect(records.pixels[3 * 3072 + 1 * 1024 + 4 * 32 + 9]).toBe(fixturePixel(8, 1, 4, 9));
  });

  it('names the file and the expected size for a truncated record', () => {
    const bytes = makeCifarBytes(3).subarray(0, 3 * CIFAR_RECORD_BYTES - 5);
    expect(() => parseCifarBatch(bytes, '/data/data_batch_2.bin')).toThrow(ValidationError);
    expect(() => parseCifarBatch(bytes, '/data/data_batch_2.bin')).toThrow(
      /data_batch_2\.bin: 9214 bytes .*record 2 is truncated.*expected 9219 bytes/,
    );
  });

  it('names the file and the expected size when the record count is fixed', () => {
    expect(() => parseCifarBatch(makeCifarBytes(4), 'test_batch.bin', { expectedRecords: 10_000 })).toThrow(
      /test_batch\.bin: 12292 bytes, expected 30730000/,
    );
  });

  it('rejects labels outside 0–9', () => {
    const bytes = makeCifarBytes(2);
    bytes[CIFAR_RECORD_BYTES] = 42;
    expect(() => parseCifarBatch(bytes, 'b.bin')).toThrow(/b\.bin: record 1 has label 42/);
  });

  it('filters classes', () => {
    const records = filterClasses(parseCifarBatch(makeCifarBytes(30), 'x.bin'), [3, 7]);
    expect(Array.from(records.labels)).toEqual([3, 7, 3, 7, 3, 7]);
    expect(records.pixels[1 * 3072]).toBe(fixturePixel(7, 0, 0, 0));
    expect(() => filterClasses(records, [10])).toThrow(ValidationError);
  });
});

describe('batches', () => {
  it('scales to [-1, 1] NHWC and flips exactly the images it says', async () => {
    const records = parseCifarBatch(makeCifarBytes(6), 'x.bin');
    const plain = recordsToBatch(records, [2, 4], new Rng(1));
    expect(plain.images.shape).toEqual([2, 32, 32, 3]);
    const v = await plain.images.data();
    // image 1 = record 4, pixel (y=5, x=6), blue
    expect(v[1 * 3072 + (5 * 32 + 6) * 3 + 2]).toBeCloseTo(fixturePixel(4, 2, 5, 6) / 127.5 - 1, 6);
    expect(Array.from(await plain.labels.data())).toEqual([2, 4]);

    const flipped = recordsToBatch(records, [0, 1, 2, 3, 4, 5], new Rng(9), { flip: true });
    const f = await flipped.images.data();
    const rng = new Rng(9);
    let flips = 0;
    for (let b = 0; b < 6; b++) {
      const isFlipped = rng.float() < 0.5;
      flips += isFlipped ? 1 : 0;
      const x = 3;
      const expected = fixturePixel(b, 0, 7, isFlipped ? 31 - x : x) / 127.5 - 1;
      expect(f[b * 3072 + (7 * 32 + x) * 3]).toBeCloseTo(expected, 6);
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(6);
    tf.dispose([plain.images, plain.labels, flipped.images, flipped.labels]);
  });

  it('cutout zeroes exactly a clipped square per image, centred on a drawn pixel; without it the random stream is unchanged', async () => {
    const records = parseCifarBatch(makeCifarBytes(6), 'x.bin');
    const indices = [0, 1, 2, 3, 4, 5];
    const side = 8;
    const plain = recordsToBatch(records, indices, new Rng(4));
    const cut = recordsToBatch(records, indices, new Rng(4), { cutout: side });
    const p = (await plain.images.data()) as Float32Array;
    const c = (await cut.images.data()) as Float32Array;
    const rng = new Rng(4);
    let clipped = 0;
    for (let b = 0; b < indices.length; b++) {
      const cx = rng.int(32);
      const cy = rng.int(32);
      const inside = (v: number, centre: number) => v >= centre - side / 2 && v < centre + side / 2;
      if ([cx, cy].some((centre) => centre - side / 2 < 0 || centre + side / 2 > 32)) clipped += 1;
      let erased = 0;
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          for (let ch = 0; ch < 3; ch++) {
            const i = b * 3072 + (y * 32 + x) * 3 + ch;
            // Fixture pixels are integers, so no kept pixel is exactly 0 (127.5 / 127.5 − 1).
            if (inside(x, cx) && inside(y, cy)) {
              expect(c[i]).toBe(0);
              erased += 1;
            } else expect(c[i]).toBe(p[i]);
          }
        }
      }
      expect(erased).toBeGreaterThan(0);
      expect(erased).toBeLessThanOrEqual(side * side * 3);
    }
    expect(clipped).toBeGreaterThan(0); // some squares met a border
    // No cutout: no draws, so the next draw is where a plain batch leaves the stream.
    const afterPlain = new Rng(4);
    recordsToBatch(records, indices, afterPlain, { cutout: 0 }).images.dispose();
    expect(afterPlain.float()).toBe(new Rng(4).float());
    expect(() => recordsToBatch(records, indices, new Rng(4), { cutout: 2.5 })).toThrow(/cutout must be an integer ≥ 0, got 2.5/);
    tf.dispose([plain.images, plain.labels, cut.images, cut.labels]);
  });

  it('shuffles with a seed, covers each epoch once, and resumes from a cursor', () => {
    const records = parseCifarBatch(makeCifarBytes(10), 'x.bin');
    const a = new CifarBatches(records, 7);
    const firstEpoch = [...a.nextIndices(4), ...a.nextIndices(4), ...a.nextIndices(2)];
    expect([...firstEpoch].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(firstEpoch).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const same = new CifarBatches(records, 7);
    expect([...same.nextIndices(10)]).toEqual(firstEpoch);
    const other = new CifarBatches(records, 8);
    expect(other.nextIndices(10)).not.toEqual(firstEpoch);

    const straight = new CifarBatches(records, 3);
    straight.nextIndices(7);
    const cursor = straight.cursor;
    const rest = straight.nextIndices(9);
    expect(new CifarBatches(records, 3, cursor).nextIndices(9)).toEqual(rest);
  });
});

describe('CIFAR-10 source', () => {
  it('reads a batches folder given by option or GENLAB_CIFAR10_DIR', async () => {
    const dir = await writeCifarDir(await tempDir(), 15);
    expect(await resolveCifarDir({ dataDir: dir, env: {} })).toBe(dir);
    expect(await resolveCifarDir({ env: { GENLAB_CIFAR10_DIR: dir } })).toBe(dir);
    const train = await loadCifarSplit(dir, 'train');
    expect(train.count).toBe(75);
    expect(train.labels[74]).toBe(74 % 10);
    const test = await loadCifarSplit(dir, 'test');
    expect(test.count).toBe(15);
    expect(test.pixels[0]).toBe(fixturePixel(75, 0, 0, 0));
    expect((await loadCifarSplit(dir, 'train', { limit: 20 })).count).toBe(20);
    await expect(resolveCifarDir({ dataDir: join(dir, 'nope'), env: {} })).rejects.toThrow(NotFoundError);
  });

  it('names the file when a batch file has the wrong size', async () => {
    const dir = await writeCifarDir(await tempDir(), 5);
    await writeFile(join(dir, 'data_batch_3.bin'), makeCifarBytes(5).subarray(0, 5000));
    await expect(loadCifarSplit(dir, 'train')).rejects.toThrow(/data_batch_3\.bin: 5000 bytes, expected 15365 \(5 records/);
  });

  it('catches a file cut short by whole records (it must match data_batch_1.bin)', async () => {
    const dir = await writeCifarDir(await tempDir(), 5);
    await writeFile(join(dir, 'test_batch.bin'), makeCifarBytes(4));
    await expect(loadCifarSplit(dir, 'test')).rejects.toThrow(/test_batch\.bin: 12292 bytes, expected 15365/);
    await writeFile(join(dir, 'data_batch_1.bin'), makeCifarBytes(5).subarray(0, 10_000));
    await expect(loadCifarSplit(dir, 'train')).rejects.toThrow(/data_batch_1\.bin: 10000 bytes .*record 3 is truncated/);
  });

  it('downloads, verifies and extracts the archive once, then reuses the cache', async () => {
    const archive = await makeCifarTarball(8);
    const md5 = createHash('md5').update(archive).digest('hex');
    const cacheDir = await tempDir();
    let fetches = 0;
    const fetcher = async (url: string) => {
      fetches += 1;
      expect(url).toBe('https://example.test/cifar.tgz');
      return archive;
    };
    const options = { env: {}, cacheDir, fetcher, url: 'https://example.test/cifar.tgz', md5 };
    const dir = await resolveCifarDir(options);
    expect(dir).toBe(join(cacheDir, 'cifar-10-batches-bin'));
    expect((await loadCifarSplit(dir, 'train')).count).toBe(40);
    expect(await resolveCifarDir(options)).toBe(dir);
    expect(fetches).toBe(1);
  });

  it('refuses an archive with the wrong checksum and leaves nothing behind', async () => {
    const archive = await makeCifarTarball(2);
    const cacheDir = await tempDir();
    await expect(resolveCifarDir({ env: {}, cacheDir, fetcher: async () => archive })).rejects.toThrow(
      /md5 [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530/,
    );
    expect(existsSync(join(cacheDir, 'cifar-10-batches-bin'))).toBe(false);
  });

  it('explains how to supply the data when the download fails', async () => {
    const cacheDir = await tempDir();
    const fetcher = async () => {
      throw new Error('getaddrinfo ENOTFOUND www.cs.toronto.edu');
    };
    const failure = resolveCifarDir({ env: {}, cacheDir, fetcher });
    await expect(failure).rejects.toThrow(UnavailableError);
    await expect(resolveCifarDir({ env: {}, cacheDir, fetcher })).rejects.toThrow(/--data-dir .*GENLAB_CIFAR10_DIR/);
  });
});

#!/usr/bin/env node
/**
 * Writes the playground's bundled CIFAR-10 test images: the first test-set image of each class,
 * as 32×32 PNGs, plus index.json, into apps/api/public/cifar10/.
 *
 *   node apps/api/scripts/test-images.mjs [path/to/cifar-10-batches-bin]
 *
 * Default source: ../shared/data/cifar-10-batches-bin (its first 1,017 records per file are
 * byte-identical to the official test set; every image picked here lies among them).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR10_CLASS_NAMES, encodePng } from '@lab/core';

const here = fileURLToPath(new URL('.', import.meta.url));
const source = resolve(process.argv[2] ?? join(here, '../../../../shared/data/cifar-10-batches-bin'));
const out = join(here, '../public/cifar10');
const RECORD = 1 + 32 * 32 * 3;

const batch = await readFile(join(source, 'test_batch.bin'));
const picked = new Map();
for (let i = 0; picked.size < 10 && (i + 1) * RECORD <= batch.length; i++) {
  const label = batch[i * RECORD];
  if (!picked.has(label)) picked.set(label, i);
}
await mkdir(out, { recursive: true });
const index = [];
for (const [label, record] of [...picked].sort((a, b) => a[0] - b[0])) {
  const planes = batch.subarray(record * RECORD + 1, (record + 1) * RECORD);
  const rgb = new Uint8Array(32 * 32 * 3);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = planes[c * 1024 + p];
  const name = CIFAR10_CLASS_NAMES[label];
  const file = `${name}.png`;
  await writeFile(join(out, file), encodePng(rgb, 32, 32, 3));
  index.push({ file, label: name, testIndex: record });
}
await writeFile(join(out, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
console.log(`wrote ${index.length} images to ${out}`);

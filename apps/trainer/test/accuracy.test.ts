import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, Rng, saveCheckpoint, silentLogger } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TEST_BACKEND } from '../../../testing/backend.js';
import { main } from '../src/cli.js';
import { evaluateClassifierCommand } from '../src/commands/evaluate.js';
import { recordsToBatch } from '../src/data/batches.js';
import { type CifarRecords, parseCifarBatch } from '../src/data/cifar10-format.js';
import { classifierAccuracy } from '../src/evaluation/accuracy.js';
import { tempDir, writeCifarDir } from './fixtures.js';

const env: Record<string, string | undefined> = {};
beforeAll(async () => {
  for (const name of ['GENLAB_BACKEND', 'GENLAB_CACHE']) env[name] = process.env[name];
  process.env.GENLAB_BACKEND = TEST_BACKEND;
  process.env.GENLAB_CACHE = await tempDir('genlab-cache-');
  await initBackend({ force: 'cpu', logger: silentLogger });
});
afterAll(() => {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/**
 * A classifier that "knows" the test set: the `features` layer scores each stored test image by
 * 2⟨x, tᵢ⟩ − |tᵢ|² (= |x|² − |x − tᵢ|², largest for the nearest image), a sharp softmax picks that
 * image, and the last layer maps image i to the class `assigned[i]`. Its predictions are therefore
 * known in advance: the accuracy is the share of images whose assigned class is their label.
 */
async function nearestImageClassifier(records: CifarRecords, assigned: number[]): Promise<tfl.LayersModel> {
  const n = records.count;
  const { images, labels } = recordsToBatch(
    records,
    Array.from({ length: n }, (_, i) => i),
    new Rng(0),
  );
  const templates = (await images.data()) as Float32Array;
  tf.dispose([images, labels]);
  const dim = 32 * 32 * 3;
  const sharpness = 10;
  const kernel = new Float32Array(dim * n);
  const bias = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const v = templates[i * dim + d] as number;
      kernel[d * n + i] = 2 * sharpness * v;
      norm += v * v;
    }
    bias[i] = -sharpness * norm;
  }
  const toClass = new Float32Array(n * 10);
  assigned.forEach((c, i) => {
    toClass[i * 10 + c] = 1;
  });
  const input = tfl.input({ shape: [32, 32, 3] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const features = tfl.layers.dense({ units: n, name: 'features' }).apply(flat) as tfl.SymbolicTensor;
  const nearest = tfl.layers.activation({ activation: 'softmax' }).apply(features) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: 10, useBias: false, name: 'probabilities' }).apply(nearest) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: output });
  const weights = [tf.tensor2d(kernel, [dim, n]), tf.tensor1d(bias), tf.tensor2d(toClass, [n, 10])];
  model.setWeights(weights);
  tf.dispose(weights);
  return model;
}

async function exportClassifier(model: tfl.LayersModel): Promise<string> {
  const dir = join(await tempDir(), 'classifier');
  await saveCheckpoint(dir, {
    manifest: { format: 1, kind: 'classifier', config: {}, step: 0, created: new Date().toISOString() },
    models: { model },
  });
  return dir;
}

describe('classifier test accuracy', () => {
  it('counts top-1 hits overall and per class', () => {
    // Three images, four classes: predictions 1, 2, 0 against labels 1, 3, 0.
    const probabilities = Float32Array.from([0.1, 0.6, 0.2, 0.1, 0, 0.2, 0.5, 0.3, 0.9, 0, 0.1, 0]);
    const report = classifierAccuracy({ count: 3, dim: 0, classes: 4, features: new Float32Array(), probabilities }, [1, 3, 0]);
    expect(report).toMatchObject({ count: 3, correct: 2 });
    expect(report.accuracy).toBeCloseTo(2 / 3, 12);
    expect(report.perClass).toEqual([1, 1, Number.NaN, 0]);
  });

  it('of an exported classifier equals the hand count on the fixture test split (library and CLI)', async () => {
    const dataDir = await writeCifarDir(await tempDir(), 6);
    const test = parseCifarBatch(new Uint8Array(await readFile(join(dataDir, 'test_batch.bin'))), 'test_batch.bin');
    expect(test.count).toBe(6);
    // Images 0 and 4 are assigned a wrong class, the others their own label: 4 of 6 right.
    const labels = Array.from(test.labels);
    const assigned = labels.map((label, i) => (i === 0 || i === 4 ? (label + 1) % 10 : label));
    const classifier = await exportClassifier(await nearestImageClassifier(test, assigned));

    const report = await evaluateClassifierCommand({ classifier, dataDir, env: { GENLAB_CACHE: process.env.GENLAB_CACHE } });
    expect(report.accuracy).toMatchObject({ count: 6, correct: 4 });
    expect(report.testAccuracy).toBeCloseTo(4 / 6, 12);
    expect(report.accuracy.perClass[labels[0] as number]).toBe(0);
    expect(report.accuracy.perClass[labels[1] as number]).toBe(1);
    // The first three images only: image 0 wrong.
    const firstThree = await evaluateClassifierCommand({
      classifier,
      dataDir,
      testCount: 3,
      env: { GENLAB_CACHE: process.env.GENLAB_CACHE },
    });
    expect(firstThree.accuracy).toMatchObject({ count: 3, correct: 2 });

    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['evaluate', '--classifier', classifier, '--data-dir', dataDir], silentLogger)).toBe(0);
      const printed = write.mock.calls.map((call) => String(call[0])).join('');
      expect(printed).toContain('66.67 % (4/6 test images)');
    } finally {
      write.mockRestore();
    }
  });
});

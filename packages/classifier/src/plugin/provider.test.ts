import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCheckpoint } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../../testing/backend.js';
import { createClassifier } from '../classifier.js';
import { createClassifierProvider } from './classifier-provider.js';

const SIZE = 16;
let root = '';
const manifest = (kind: 'energy' | 'classifier', config: Record<string, unknown> = {}) => ({
  format: 1 as const,
  kind,
  config,
  step: 0,
  created: new Date().toISOString(),
});

beforeAll(async () => {
  await useTestBackend();
  root = await mkdtemp(join(tmpdir(), 'genlab-classifier-plugin-'));
  const classifier = createClassifier({
    inputShape: [SIZE, SIZE, 3],
    numClasses: 10,
    channels: [8],
    featureUnits: 8,
    dropout: 0,
    output: 'logits',
  });
  await saveCheckpoint(join(root, 'cls'), {
    manifest: manifest('classifier', { net: { output: 'logits' } }),
    models: { model: classifier },
  });
  await saveCheckpoint(join(root, 'not-cls'), { manifest: manifest('energy'), models: { model: classifier } });
  await saveCheckpoint(join(root, 'cls-flip'), {
    manifest: manifest('classifier', { net: { output: 'logits' }, flipAverage: true }),
    models: { model: classifier },
  });
  await saveCheckpoint(join(root, 'cls-bad-flip'), {
    manifest: manifest('classifier', { net: { output: 'logits' }, flipAverage: 1 }),
    models: { model: classifier },
  });
  classifier.dispose();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('classifier provider', () => {
  it('turns logits into probabilities that sum to 1, with CIFAR-10 names, leaving no tensors', async () => {
    const provider = createClassifierProvider({ id: 'c', dir: join(root, 'cls') });
    const info = await provider.load();
    expect(info.classNames?.[0]).toBe('airplane');
    expect(info.imageShape).toEqual([SIZE, SIZE, 3]);
    const x = tf.zeros([3, SIZE, SIZE, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const probs = (await provider.classify?.(x, {})) ?? [];
    expect(tf.memory().numTensors).toBe(before);
    expect(probs).toHaveLength(3);
    for (const row of probs) {
      expect(row).toHaveLength(10);
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
      expect(row.every((p) => p > 0)).toBe(true);
    }
    x.dispose();
    provider.dispose();
  });

  it('answers a flip-averaged bundle with the mean over each image and its mirror image', async () => {
    const single = createClassifierProvider({ id: 'c', dir: join(root, 'cls') });
    const averaged = createClassifierProvider({ id: 'f', dir: join(root, 'cls-flip') });
    await single.load();
    await averaged.load();
    const x = tf.randomUniform([2, SIZE, SIZE, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const mirrored = tf.reverse(x, 2) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const [p, q] = [(await single.classify?.(x, {})) ?? [], (await single.classify?.(mirrored, {})) ?? []];
    const [a, b] = [(await averaged.classify?.(x, {})) ?? [], (await averaged.classify?.(mirrored, {})) ?? []];
    expect(tf.memory().numTensors).toBe(before);
    expect(a).toHaveLength(2);
    for (let i = 0; i < 2; i++)
      for (let k = 0; k < 10; k++) {
        expect(a[i]?.[k]).toBeCloseTo(((p[i]?.[k] as number) + (q[i]?.[k] as number)) / 2, 6);
        expect(b[i]?.[k]).toBeCloseTo(a[i]?.[k] as number, 6);
      }
    // The single view does see the flip, so the equality above is not trivial.
    expect(Math.max(...(p[0] ?? []).map((v, k) => Math.abs(v - (q[0]?.[k] as number))))).toBeGreaterThan(1e-4);
    tf.dispose([x, mirrored]);
    single.dispose();
    averaged.dispose();
  });

  it('refuses a flipAverage that is not a boolean, keeping nothing loaded', async () => {
    const before = tf.memory().numTensors;
    await expect(createClassifierProvider({ id: 'b', dir: join(root, 'cls-bad-flip') }).load()).rejects.toThrow(
      /flipAverage must be true or false, got 1/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a checkpoint of another kind', async () => {
    await expect(createClassifierProvider({ id: 'x', dir: join(root, 'not-cls') }).load()).rejects.toThrow(
      /Expected a checkpoint of kind "classifier", found kind "energy"/,
    );
  });
});

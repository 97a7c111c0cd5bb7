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

  it('refuses a checkpoint of another kind', async () => {
    await expect(createClassifierProvider({ id: 'x', dir: join(root, 'not-cls') }).load()).rejects.toThrow(
      /Expected a checkpoint of kind "classifier", found kind "energy"/,
    );
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveCheckpoint } from '../../src/checkpoints/checkpoint.js';
import { loadModelCheckpoint } from '../../src/checkpoints/load-model.js';
import { CheckpointError } from '../../src/errors.js';

let root: string;

function dense(units: number, seed: number): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [3], units, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  return model;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'genlab-load-model-'));
  const [model, other] = [dense(2, 1), dense(4, 2)];
  await saveCheckpoint(path.join(root, 'two'), {
    manifest: { format: 1, kind: 'energy', config: {}, step: 3, created: new Date().toISOString() },
    models: { other, model },
    tensors: { trainingEnergies: tf.tensor1d([3, -1, 2]) },
    json: { note: 'kept' },
  });
  model.dispose();
  other.dispose();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadModelCheckpoint', () => {
  it('keeps the `model` entry, reads tensors into arrays and disposes everything else', async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadModelCheckpoint(path.join(root, 'two'), 'energy');
    expect(loaded.model.outputs[0]?.shape).toEqual([null, 2]);
    expect(Array.from(loaded.tensorValues.trainingEnergies ?? [])).toEqual([3, -1, 2]);
    expect(loaded.json).toEqual({ note: 'kept' });
    expect(loaded.manifest.step).toBe(3);
    // Only the kept model's kernel and bias remain.
    expect(tf.memory().numTensors).toBe(before + 2);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a checkpoint of another kind, leaving no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const load = loadModelCheckpoint(path.join(root, 'two'), 'classifier');
    await expect(load).rejects.toThrow(CheckpointError);
    await expect(load).rejects.toThrow(/Expected a checkpoint of kind "classifier", found kind "energy"/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps a named entry on request and can leave the tensors unread', async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadModelCheckpoint(path.join(root, 'two'), 'energy', { entry: 'other', readTensors: false });
    expect(loaded.model.outputs[0]?.shape).toEqual([null, 4]);
    expect(loaded.tensorValues).toEqual({});
    expect(tf.memory().numTensors).toBe(before + 2);
    loaded.model.dispose();
    const missing = loadModelCheckpoint(path.join(root, 'two'), 'energy', { entry: 'ema' });
    await expect(missing).rejects.toThrow('The checkpoint has no `ema` model');
    expect(tf.memory().numTensors).toBe(before);
  });
});

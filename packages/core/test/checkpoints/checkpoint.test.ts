import { mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckpointContents, loadCheckpoint, readManifest, saveCheckpoint } from '../../src/checkpoints/checkpoint.js';
import { float16BitsToNumber, float32ToFloat16Bits } from '../../src/checkpoints/float16.js';
import { type CheckpointWriter, fsWriter } from '../../src/checkpoints/fs-writer.js';
import type { GenlabManifest } from '../../src/checkpoints/manifest.js';
import { fileSystemModelHandler } from '../../src/checkpoints/model-io.js';
import { CheckpointError } from '../../src/errors.js';

let root: string;

function tinyModel(seed: number): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(
    tfl.layers.conv2d({
      inputShape: [4, 4, 2],
      filters: 3,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    }),
  );
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }), biasInitializer: 'ones' }));
  return model;
}

function manifest(step: number): GenlabManifest {
  return {
    format: 1,
    kind: 'energy',
    config: { preset: 'tiny', channels: [3] },
    step,
    dataset: { name: 'cifar10', split: 'train' },
    metrics: { loss: 0.25 },
    backend: 'cpu',
    created: new Date(Date.UTC(2026, 0, 2)).toISOString(),
  };
}

async function predict(model: tfl.LayersModel): Promise<number[]> {
  const x = tf.tensor4d(
    Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)),
    [1, 4, 4, 2],
  );
  const y = model.predict(x) as tf.Tensor;
  const values = Array.from(await y.data());
  tf.dispose([x, y]);
  return values;
}

async function contents(step: number): Promise<CheckpointContents> {
  return {
    manifest: manifest(step),
    models: { energy: tinyModel(step) },
    tensors: {
      'adam/m': tf.tensor2d([1.5, -2, 3, 4e-8], [2, 2]),
      counts: tf.tensor1d([step, 7, -3], 'int32'),
      mask: tf.tensor1d([true, false, true], 'bool'),
    },
    json: { rng: { seed: 42, counter: step }, history: [1, 0.5] },
  };
}

function dispose(c: CheckpointContents | Awaited<ReturnType<typeof loadCheckpoint>>): void {
  for (const m of Object.values(c.models ?? {})) m.dispose();
  tf.dispose(Object.values(c.tensors ?? {}));
}

/** Fails on the `failAt`-th file written, after the earlier ones landed. */
function failingWriter(failAt: number): CheckpointWriter {
  let count = 0;
  return {
    async writeFile(file, data) {
      count += 1;
      if (count === failAt) throw new Error(`disk full while writing ${path.basename(file)}`);
      await fsWriter.writeFile(file, data);
    },
  };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'genlab-ckpt-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('checkpoints', () => {
  it('round-trips models, named tensors, JSON state and the manifest', async () => {
    const dir = path.join(root, 'round-trip');
    const saved = await contents(3);
    const expected = await predict(saved.models!.energy!);
    await saveCheckpoint(dir, saved);
    expect((await readdir(dir)).sort()).toEqual(['genlab.json', 'models', 'state.json', 'tensors.bin', 'tensors.json']);
    expect((await readdir(path.join(dir, 'models', 'energy'))).sort()).toEqual(['model.json', 'weights.bin']);

    const loaded = await loadCheckpoint(dir);
    expect(loaded.manifest).toEqual(saved.manifest);
    expect(loaded.json).toEqual(saved.json);
    expect(await predict(loaded.models.energy!)).toEqual(expected);
    for (const [name, tensor] of Object.entries(saved.tensors!)) {
      const back = loaded.tensors[name]!;
      expect(back.dtype).toBe(tensor.dtype);
      expect(back.shape).toEqual(tensor.shape);
      expect(Array.from(await back.data())).toEqual(Array.from(await tensor.data()));
    }
    expect(await readManifest(dir)).toEqual(saved.manifest);
    dispose(saved);
    dispose(loaded);
  });

  it('stores weights as float16 on request and loads them back as float32', async () => {
    const dir32 = path.join(root, 'f32');
    const dir16 = path.join(root, 'f16');
    const saved = await contents(4);
    await saveCheckpoint(dir32, saved);
    await saveCheckpoint(dir16, saved, { weightDtype: 'float16' });
    const size = async (d: string) => (await stat(path.join(d, 'models', 'energy', 'weights.bin'))).size;
    expect(await size(dir16)).toBe((await size(dir32)) / 2);

    const loaded = await loadCheckpoint(dir16);
    const original = saved.models!.energy!.getWeights();
    const restored = loaded.models.energy!.getWeights();
    for (const [i, w] of original.entries()) {
      const want = Array.from(await w.data()).map((v) => float16BitsToNumber(float32ToFloat16Bits(v)));
      const got = restored[i]!;
      expect(got.dtype).toBe('float32');
      expect(Array.from(await got.data())).toEqual(want);
    }
    dispose(saved);
    dispose(loaded);
  });

  it('works as a plain tf.io handler for model.save / loadLayersModel', async () => {
    const dir = path.join(root, 'handler');
    const model = tinyModel(9);
    await model.save(fileSystemModelHandler(dir));
    const loaded = await tfl.loadLayersModel(fileSystemModelHandler(dir));
    expect(await predict(loaded)).toEqual(await predict(model));
    model.dispose();
    loaded.dispose();
  });

  it('keeps the previous checkpoint loadable when a save fails midway', async () => {
    const dir = path.join(root, 'interrupted');
    const first = await contents(1);
    await saveCheckpoint(dir, first);
    const expected = await predict(first.models!.energy!);
    for (const failAt of [1, 2, 3, 4, 5, 6]) {
      const second = await contents(2);
      await expect(saveCheckpoint(dir, second, { writer: failingWriter(failAt) })).rejects.toThrow(/disk full/);
      dispose(second);
      const loaded = await loadCheckpoint(dir);
      expect(loaded.manifest.step).toBe(1);
      expect(await predict(loaded.models.energy!)).toEqual(expected);
      dispose(loaded);
    }
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    dispose(first);
  });

  it('recovers the old checkpoint when a save died between its two renames', async () => {
    const dir = path.join(root, 'swap');
    const saved = await contents(5);
    await saveCheckpoint(dir, saved);
    await rename(dir, `${dir}.previous`);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.manifest.step).toBe(5);
    dispose(loaded);
    // The next save cleans up after it.
    await saveCheckpoint(dir, saved);
    expect((await readdir(root)).filter((n) => n.startsWith('swap'))).toEqual(['swap']);
    dispose(saved);
  });

  it('replaces an existing checkpoint on a successful save', async () => {
    const dir = path.join(root, 'replace');
    const a = await contents(1);
    const b = await contents(2);
    await saveCheckpoint(dir, a);
    await saveCheckpoint(dir, b);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.manifest.step).toBe(2);
    expect(await predict(loaded.models.energy!)).toEqual(await predict(b.models!.energy!));
    [a, b, loaded].forEach(dispose);
  });

  describe('corrupt or missing files raise CheckpointError naming the file', () => {
    async function freshCopy(name: string): Promise<string> {
      const dir = path.join(root, name);
      const c = await contents(6);
      await saveCheckpoint(dir, c);
      dispose(c);
      return dir;
    }

    async function expectCheckpointError(dir: string, file: string, message: RegExp): Promise<void> {
      const error = await loadCheckpoint(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as CheckpointError).file).toBe(file);
      expect((error as CheckpointError).message).toMatch(message);
    }

    it('a missing checkpoint folder', async () => {
      const dir = path.join(root, 'nothing-here');
      await expectCheckpointError(dir, path.join(dir, 'genlab.json'), /missing/);
    });

    it('truncated weights', async () => {
      const dir = await freshCopy('truncated-weights');
      const weights = path.join(dir, 'models', 'energy', 'weights.bin');
      await truncate(weights, 10);
      await expectCheckpointError(dir, weights, /truncated: expected \d+ bytes, found 10/);
    });

    it('truncated tensor data', async () => {
      const dir = await freshCopy('truncated-tensors');
      await truncate(path.join(dir, 'tensors.bin'), 4);
      await expectCheckpointError(dir, path.join(dir, 'tensors.bin'), /truncated/);
    });

    it('bad JSON', async () => {
      const dir = await freshCopy('bad-json');
      const file = path.join(dir, 'models', 'energy', 'model.json');
      await writeFile(file, (await readFile(file, 'utf8')).slice(0, 40));
      await expectCheckpointError(dir, file, /not valid JSON/);
      await writeFile(path.join(dir, 'genlab.json'), '{"format": 1,');
      await expectCheckpointError(dir, path.join(dir, 'genlab.json'), /not valid JSON/);
    });

    it('a manifest of another format', async () => {
      const dir = await freshCopy('other-format');
      const file = path.join(dir, 'genlab.json');
      await writeFile(file, JSON.stringify({ ...manifest(1), format: 2 }));
      await expectCheckpointError(dir, file, /Unsupported checkpoint format 2/);
      await writeFile(file, JSON.stringify({ ...manifest(1), kind: 'gan' }));
      await expectCheckpointError(dir, file, /Unknown model kind/);
    });
  });

  it('refuses an invalid manifest before writing anything', async () => {
    const dir = path.join(root, 'invalid');
    const bad = { ...manifest(1), step: -1 } as GenlabManifest;
    await expect(saveCheckpoint(dir, { manifest: bad })).rejects.toBeInstanceOf(CheckpointError);
    await expect(stat(dir)).rejects.toThrow();
  });
});

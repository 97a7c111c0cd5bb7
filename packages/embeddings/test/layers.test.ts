import '@tensorflow/tfjs-backend-cpu';
import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import { dropLabels, LabelEmbedding, sinusoidalEmbedding, TimeEmbedding } from '../src/index.js';

beforeAll(async () => {
  await useTestBackend();
});

/** Saves a model to memory and loads it back (exercises registered custom layers). */
async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(saved!));
}

function dense(x: number[], kernel: Float32Array, bias: Float32Array, inDim: number, outDim: number): number[] {
  return Array.from({ length: outDim }, (_, j) => {
    let sum = bias[j]!;
    for (let i = 0; i < inDim; i++) sum += x[i]! * kernel[i * outDim + j]!;
    return sum;
  });
}

describe('TimeEmbedding', () => {
  it('computes Dense ∘ SiLU ∘ Dense of the sinusoid (checked by hand)', async () => {
    const t = tfl.input({ shape: [1], name: 't' });
    const layer = new TimeEmbedding({ sinusoidDim: 8, units: 6, hiddenUnits: 5, convention: 'ddpm', seed: 3 });
    const model = tfl.model({ inputs: t, outputs: layer.apply(t) as tfl.SymbolicTensor });
    const ts = tf.tensor1d([0, 7, 250]);
    const out = model.predict(ts) as tf.Tensor;
    expect(out.shape).toEqual([3, 6]);
    const got = await out.data();
    const [k1, b1, k2, b2] = await Promise.all(layer.getWeights().map((w) => w.data() as Promise<Float32Array>));
    const sinusoid = sinusoidalEmbedding(ts, 8, { convention: 'ddpm' });
    const sin = await sinusoid.data();
    for (let row = 0; row < 3; row++) {
      const h = dense(Array.from(sin.slice(row * 8, row * 8 + 8)), k1!, b1!, 8, 5).map((v) => v / (1 + Math.exp(-v)));
      const expected = dense(h, k2!, b2!, 5, 6);
      for (let j = 0; j < 6; j++) expect(got[row * 6 + j]).toBeCloseTo(expected[j]!, 5);
    }
    // Called directly on rank-1 timesteps (no predict-side expansion) it gives the same.
    const direct = layer.apply(ts) as tf.Tensor;
    expect(Array.from(await direct.data())).toEqual(Array.from(got));
    tf.dispose([ts, out, sinusoid, direct]);
  });

  it('survives save → load with identical outputs and config', async () => {
    const t = tfl.input({ shape: [1] });
    const model = tfl.model({
      inputs: t,
      outputs: new TimeEmbedding({ sinusoidDim: 8, units: 4, order: 'cos-sin' }).apply(t) as tfl.SymbolicTensor,
    });
    const loaded = await roundTrip(model);
    const ts = tf.tensor1d([1, 500]);
    const a = model.predict(ts) as tf.Tensor;
    const b = loaded.predict(ts) as tf.Tensor;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    const layer = loaded.layers.find((l) => l instanceof TimeEmbedding) as TimeEmbedding;
    expect(layer.order).toBe('cos-sin');
    tf.dispose([ts, a, b]);
  });

  it('is deterministic for a seed', async () => {
    const weights = async () => {
      const layer = new TimeEmbedding({ sinusoidDim: 8, units: 4, seed: 11 });
      layer.apply(tfl.input({ shape: [1] }));
      return Array.from(await layer.getWeights()[0]!.data());
    };
    expect(await weights()).toEqual(await weights());
  });
});

describe('LabelEmbedding', () => {
  it('looks up one row per label, with the null class as the last row', async () => {
    const y = tfl.input({ shape: [1], dtype: 'int32' });
    const layer = new LabelEmbedding({ numClasses: 3, units: 2, seed: 1 });
    const model = tfl.model({ inputs: y, outputs: layer.apply(y) as tfl.SymbolicTensor });
    expect(layer.nullClass).toBe(3);
    const labels = tf.tensor1d([2, 0, 3], 'int32');
    const out = model.predict(labels) as tf.Tensor;
    const table = await layer.getWeights()[0]!.data();
    expect(layer.getWeights()[0]!.shape).toEqual([4, 2]);
    const got = await out.data();
    [2, 0, 3].forEach((label, row) => {
      expect(got[row * 2]).toBe(table[label * 2]);
      expect(got[row * 2 + 1]).toBe(table[label * 2 + 1]);
    });
    tf.dispose([labels, out]);
  });

  it('passes gradient only to the rows used', async () => {
    const layer = new LabelEmbedding({ numClasses: 4, units: 3 });
    layer.apply(tfl.input({ shape: [1], dtype: 'int32' }));
    const labels = tf.tensor1d([1, 1, 4], 'int32');
    const table = layer.trainableWeights[0]!.read() as tf.Variable;
    const { grads } = tf.variableGrads(() => tf.sum(layer.apply(labels) as tf.Tensor) as tf.Scalar, [table]);
    const g = await grads[table.name]!.data();
    // d(sum)/d(row) = number of times the row is used, in every column.
    expect(Array.from(g)).toEqual([0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    tf.dispose([labels, ...Object.values(grads)]);
  });

  it('survives save → load', async () => {
    const y = tfl.input({ shape: [1], dtype: 'int32' });
    const model = tfl.model({ inputs: y, outputs: new LabelEmbedding({ numClasses: 10, units: 4 }).apply(y) as tfl.SymbolicTensor });
    const loaded = await roundTrip(model);
    const labels = tf.tensor1d([0, 9, 10], 'int32');
    const a = model.predict(labels) as tf.Tensor;
    const b = loaded.predict(labels) as tf.Tensor;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([labels, a, b]);
  });

  it('rejects a bad class count', () => {
    expect(() => new LabelEmbedding({ numClasses: 0, units: 2 })).toThrow(ValidationError);
  });
});

describe('dropLabels', () => {
  it('replaces labels by the null class with the given probability', async () => {
    const n = 4000;
    const labels = tf.fill([n], 7, 'int32') as tf.Tensor1D;
    const dropped = dropLabels(labels, 0.1, 10, new Rng(5));
    const values = await dropped.data();
    const nulls = values.filter((v) => v === 10).length;
    expect(values.every((v) => v === 10 || v === 7)).toBe(true);
    // Binomial(4000, 0.1): mean 400, sd 19 → ±5 sd.
    expect(Math.abs(nulls - 400)).toBeLessThan(95);
    const none = dropLabels(labels, 0, 10, new Rng(5));
    expect((await none.data()).every((v) => v === 7)).toBe(true);
    tf.dispose([labels, dropped, none]);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import { Downsample, GroupNorm, groupNorm, ResBlock, SelfAttention2D, Upsample } from '../src/index.js';
import { maxAbsDiff, randomArray, randomTensor, roundTrip } from './helpers.js';

beforeAll(async () => {
  await useTestBackend(); // on cpu, also installs core's fast Conv2DBackpropFilter
});

/** A model of one layer, called on an image (and an embedding for ResBlock). */
function wrap(layer: tfl.layers.Layer, shape: number[], embDim?: number): tfl.LayersModel {
  const x = tfl.input({ shape });
  if (embDim === undefined) return tfl.model({ inputs: x, outputs: layer.apply(x) as tfl.SymbolicTensor });
  const emb = tfl.input({ shape: [embDim] });
  return tfl.model({ inputs: [x, emb], outputs: layer.apply([x, emb]) as tfl.SymbolicTensor });
}

describe('custom layers', () => {
  it('GroupNorm layer = groupNorm op (then SiLU) and survives save → load', async () => {
    const layer = new GroupNorm({ groups: 2, activation: 'silu' });
    const model = wrap(layer, [3, 3, 4]);
    const x = randomTensor([2, 3, 3, 4], 1) as tf.Tensor4D;
    const gamma = tf.tensor1d([0.5, 1, 2, -1]);
    const beta = tf.tensor1d([0, 0.1, -0.2, 0.3]);
    layer.setWeights([gamma, beta]);
    const normed = groupNorm(x, gamma, beta, 2, 1e-5);
    const expected = await tf.mul(normed, tf.sigmoid(normed)).data();
    const got = model.predict(x) as tf.Tensor;
    expect(maxAbsDiff(await got.data(), expected)).toBeLessThan(1e-6);
    const loaded = await roundTrip(model);
    expect(Array.from(await (loaded.predict(x) as tf.Tensor).data())).toEqual(Array.from(await got.data()));
  });

  it('ResBlock: 1×1 skip when channels change, identity skip otherwise', () => {
    const widen = new ResBlock({ channels: 8, groups: 2 });
    wrap(widen, [4, 4, 4], 6);
    expect(widen.getWeights().map((w) => w.shape)).toContainEqual([1, 1, 4, 8]);
    const same = new ResBlock({ channels: 4, groups: 2 });
    wrap(same, [4, 4, 4], 6);
    expect(same.getWeights().some((w) => w.shape.length === 4 && w.shape[0] === 1)).toBe(false);
    // norm1 (4+4), conv1 (3·3·4·4+4), emb (6·4+4), norm2 (4+4), conv2 (3·3·4·4+4)
    expect(same.countParams()).toBe(8 + 148 + 28 + 8 + 148);
  });

  it('ResBlock: zeroing the second conv leaves exactly the skip path, and the embedding matters', async () => {
    const layer = new ResBlock({ channels: 4, groups: 2, seed: 3 });
    const model = wrap(layer, [4, 4, 4], 6);
    const x = randomTensor([2, 4, 4, 4], 2);
    const embA = randomTensor([2, 6], 3);
    const embB = randomTensor([2, 6], 4);
    const a = model.predict([x, embA]) as tf.Tensor;
    const b = model.predict([x, embB]) as tf.Tensor;
    expect(maxAbsDiff(await a.data(), await b.data())).toBeGreaterThan(1e-3);
    const zeroed = layer.getWeights().map((w, i) => (i === 8 || i === 9 ? tf.zerosLike(w) : w)); // conv2 kernel, bias
    layer.setWeights(zeroed);
    expect(Array.from(await (model.predict([x, embA]) as tf.Tensor).data())).toEqual(Array.from(await x.data()));
  });

  it('ResBlock dropout acts only when training', async () => {
    const layer = new ResBlock({ channels: 4, groups: 2, dropout: 0.5 });
    const model = wrap(layer, [4, 4, 4], 6);
    const inputs = [randomTensor([2, 4, 4, 4], 5), randomTensor([2, 6], 6)];
    const p1 = await (model.predict(inputs) as tf.Tensor).data();
    const p2 = await (model.predict(inputs) as tf.Tensor).data();
    expect(Array.from(p1)).toEqual(Array.from(p2));
    const t1 = await (model.apply(inputs, { training: true }) as tf.Tensor).data();
    expect(maxAbsDiff(t1, p1)).toBeGreaterThan(1e-3);
  });

  it('SelfAttention2D with 2 heads matches a per-head reference built from ops', async () => {
    const layer = new SelfAttention2D({ numHeads: 2, groups: 2, seed: 1 });
    const model = wrap(layer, [2, 3, 4]);
    const x = randomTensor([2, 2, 3, 4], 7) as tf.Tensor4D;
    const [gamma, beta, wqkv, , wo] = layer.getWeights();
    layer.setWeights([gamma!, beta!, wqkv!, randomTensor([12], 8), wo!, randomTensor([4], 9)]);
    const got = await (model.predict(x) as tf.Tensor).data();
    // Reference: per sample and per head, with channel slices [0,2) and [2,4) of q, k, v.
    const normed = tf.reshape(groupNorm(x, gamma!, beta!, 2, 1e-5), [2, 6, 4]);
    const qkv = tf.add(tf.matMul(normed, tf.broadcastTo(wqkv!, [2, 4, 12])), layer.getWeights()[3]!);
    const heads = [0, 1].map((h) => {
      const part = (offset: number) => tf.slice(qkv, [0, 0, offset + 2 * h], [2, 6, 2]);
      const scores = tf.div(tf.matMul(part(0), part(4), false, true), Math.sqrt(2));
      return tf.matMul(tf.softmax(scores), part(8));
    });
    const merged = tf.concat(heads, 2);
    const out = tf.add(tf.add(tf.matMul(merged, tf.broadcastTo(wo!, [2, 4, 4])), layer.getWeights()[5]!), tf.reshape(x, [2, 6, 4]));
    expect(maxAbsDiff(got, await out.data())).toBeLessThan(1e-5);
  });

  it('Downsample halves and Upsample doubles the resolution; both survive save → load', async () => {
    for (const [layer, outShape] of [
      [new Downsample({ seed: 1 }), [2, 2, 3, 5]],
      [new Upsample({ seed: 2 }), [2, 8, 12, 5]],
    ] as const) {
      const model = wrap(layer, [4, 6, 5]);
      const x = tf.tensor4d(randomArray(240, 3), [2, 4, 6, 5]);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual(outShape);
      const loaded = await roundTrip(model);
      expect(Array.from(await (loaded.predict(x) as tf.Tensor).data())).toEqual(Array.from(await y.data()));
    }
  });
});

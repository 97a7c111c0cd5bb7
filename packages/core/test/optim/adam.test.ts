import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_UPDATE_KERNEL, adam } from '../../src/optim/adam.js';

/** The torch backend, when its addon is built here (an optional dependency of this package). */
const torch = await import('@lab/backend-torch')
  .then((m) => m.torchStatus())
  .catch((error: Error) => ({ available: false as const, reason: error.message }));
const suite = torch.available ? describe : describe.skip;
if (!torch.available) console.warn(`fused Adam tests skipped: ${torch.reason}`);

function randn(shape: number[], seed: number): tf.Tensor {
  let state = seed;
  const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
  return tf.tensor(values, shape);
}

async function runOn(backend: string, compute: () => tf.Tensor[]) {
  await tf.setBackend(backend);
  const outputs = compute();
  const result = await Promise.all(outputs.map(async (t) => ({ values: Array.from(await t.data()), shape: t.shape })));
  tf.dispose(outputs);
  return result;
}

describe('adam() without a fused kernel', () => {
  beforeAll(() => tf.setBackend('cpu'));
  it("is tfjs's Adam, step for step", async () => {
    const reference = await runOn(
      'cpu',
      train(() => tf.train.adam(0.05, 0.8, 0.99, 1e-7)),
    );
    const ours = await runOn(
      'cpu',
      train(() => adam(0.05, 0.8, 0.99, 1e-7)),
    );
    expect(ours).toEqual(reference);
  });
});

/** Three Adam steps of a small conv net; returns the weights and the optimizer's saved state. */
function train(makeOptimizer: () => tf.Optimizer): () => tf.Tensor[] {
  return () => {
    const w1 = tf.variable(randn([3, 3, 2, 4], 1), true, 'w1');
    const w2 = tf.variable(randn([4, 3], 2), true, 'w2');
    const frozen = tf.variable(randn([3], 3), false, 'frozen');
    const x = randn([2, 5, 5, 2], 4);
    const optimizer = makeOptimizer();
    for (let i = 0; i < 3; i++) {
      optimizer
        .minimize(() => {
          const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Variable<tf.Rank.R4>, 1, 'same'));
          return tf.mean(tf.square(tf.add(tf.matMul(tf.reshape(h, [-1, 4]), w2), frozen))) as tf.Scalar;
        })
        ?.dispose();
    }
    const state = optimizer as unknown as {
      accumulatedFirstMoment: { variable: tf.Variable }[];
      accumulatedSecondMoment: { variable: tf.Variable }[];
    };
    const out = [
      w1,
      w2,
      ...state.accumulatedFirstMoment.map((s) => s.variable),
      ...state.accumulatedSecondMoment.map((s) => s.variable),
    ].map((t) => tf.clone(t));
    optimizer.dispose();
    tf.dispose([w1, w2, frozen, x]);
    return out;
  };
}

suite('the fused Adam step on torch', () => {
  it('is registered for torch and not for cpu', async () => {
    expect(tf.getKernel(ADAM_UPDATE_KERNEL, 'torch')).toBeDefined();
    expect(tf.getKernel(ADAM_UPDATE_KERNEL, 'cpu')).toBeUndefined();
  });

  it("matches tfjs's own Adam on tfjs-backend-cpu (weights and both moments, 3 steps)", async () => {
    const reference = await runOn(
      'cpu',
      train(() => tf.train.adam(0.05, 0.8, 0.99, 1e-7)),
    );
    const fused = await runOn(
      'torch',
      train(() => adam(0.05, 0.8, 0.99, 1e-7)),
    );
    expect(fused.length).toBe(reference.length);
    reference.forEach((r, i) => {
      const f = fused[i]!;
      expect(f.shape).toEqual(r.shape);
      const scale = Math.max(...r.values.map(Math.abs), 1e-3);
      const worst = Math.max(...r.values.map((v, j) => Math.abs(v - f.values[j]!)));
      expect(worst / scale, `tensor ${i}`).toBeLessThan(1e-4);
    });
  });

  it('keeps the tensor count flat and its state loadable by tfjs’s Adam', async () => {
    await tf.setBackend('torch');
    const w = tf.variable(randn([4, 4], 5));
    const optimizer = adam(0.01);
    const step = () => optimizer.minimize(() => tf.sum(tf.square(w)) as tf.Scalar)?.dispose();
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    const saved = await optimizer.getWeights();
    expect(saved.map((s) => s.name)).toEqual(['iter', `${w.name}/m`, `${w.name}/v`]);
    const restored = tf.train.adam(0.01);
    await restored.setWeights(saved);
    expect(restored.iterations).toBe(6);
    restored.dispose();
    optimizer.dispose();
    w.dispose();
  });
});

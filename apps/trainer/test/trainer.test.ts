import { Rng } from '@lab/core';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import { parseCifarBatch } from '../src/data/cifar10-format.js';
import { accumulateGradients, clipByGlobalNorm, microBatchRanges } from '../src/train/gradients.js';
import { Trainer } from '../src/train/trainer.js';
import { makeCifarBytes, maxAbsDiff, weightsOf } from './fixtures.js';
import { ToyDenoiseTask } from './toy-task.js';

beforeAll(async () => {
  await useTestBackend();
});

const records = parseCifarBatch(makeCifarBytes(64), 'fixture.bin');
const optimization = { batchSize: 16, lr: 0.01, warmupSteps: 3, gradClipNorm: 1, emaDecay: 0.9 };

describe('gradient accumulation', () => {
  it('2 micro-batches of 8 give the gradient of one batch of 16', async () => {
    const rng = new Rng(4);
    const w = tf.variable(rng.normal([5, 3]), true, 'acc_w');
    const b = tf.variable(rng.normal([3]), true, 'acc_b');
    const x = rng.normal([16, 5]);
    const y = rng.normal([16, 3]);
    const lossOf = (xs: tf.Tensor, ys: tf.Tensor) => tf.mean(tf.square(tf.sub(tf.tanh(tf.add(tf.matMul(xs, w), b)), ys))) as tf.Scalar;
    const whole = accumulateGradients([w, b], [{ size: 16, loss: () => ({ loss: lossOf(x, y) }) }]);
    const split = accumulateGradients(
      [w, b],
      microBatchRanges(16, 8).map(([s, e]) => ({
        size: e - s,
        loss: () => ({ loss: lossOf(tf.slice(x, s, e - s), tf.slice(y, s, e - s)) }),
      })),
    );
    // An uneven split (7 + 7 + 2) must agree too: micro-batches are weighted by their size.
    const uneven = accumulateGradients(
      [w, b],
      microBatchRanges(16, 7).map(([s, e]) => ({
        size: e - s,
        loss: () => ({ loss: lossOf(tf.slice(x, s, e - s), tf.slice(y, s, e - s)) }),
      })),
    );
    expect(microBatchRanges(16, 7)).toEqual([
      [0, 7],
      [7, 14],
      [14, 16],
    ]);
    for (const name of ['acc_w', 'acc_b']) {
      const g = await (whole.grads[name] as tf.Tensor).data();
      const gs = await (split.grads[name] as tf.Tensor).data();
      const gu = await (uneven.grads[name] as tf.Tensor).data();
      expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(1e-3);
      g.forEach((v, i) => {
        expect(gs[i]).toBeCloseTo(v, 6);
        expect(gu[i]).toBeCloseTo(v, 6);
      });
    }
    expect((await split.loss.data())[0]).toBeCloseTo((await whole.loss.data())[0] as number, 6);
    tf.dispose([
      w,
      b,
      x,
      y,
      whole.loss,
      split.loss,
      uneven.loss,
      ...Object.values(whole.grads),
      ...Object.values(split.grads),
      ...Object.values(uneven.grads),
    ]);
  });

  it('a trainer step with micro-batches of 8 equals one with the whole batch of 16', async () => {
    const a = new Trainer(new ToyDenoiseTask(), records, { ...optimization, microBatch: 16 }, 5);
    const b = new Trainer(new ToyDenoiseTask(), records, { ...optimization, microBatch: 8 }, 5);
    expect(maxAbsDiff(await weightsOf(a.model), await weightsOf(b.model))).toBe(0);
    const ra = await a.trainStep();
    const rb = await b.trainStep();
    expect(rb.loss).toBeCloseTo(ra.loss, 6);
    expect(rb.gradNorm).toBeCloseTo(ra.gradNorm, 5);
    expect(maxAbsDiff(await weightsOf(a.model), await weightsOf(b.model))).toBeLessThan(1e-6);
    a.dispose();
    b.dispose();
  });
});

describe('clipping, warm-up, EMA', () => {
  it('clips to the global norm and leaves small gradients alone', async () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const clipped = clipByGlobalNorm(grads, 1);
    expect((await clipped.norm.data())[0]).toBeCloseTo(5, 6);
    expect(Array.from(await (clipped.grads.a as tf.Tensor).data())).toEqual([expect.closeTo(0.6, 6), 0]);
    expect(Array.from(await (clipped.grads.b as tf.Tensor).data())).toEqual([0, expect.closeTo(0.8, 6)]);
    const loose = clipByGlobalNorm(grads, 10);
    expect(Array.from(await (loose.grads.b as tf.Tensor).data())).toEqual([0, 4]);
    tf.dispose([grads.a, grads.b, clipped.norm, loose.norm, ...Object.values(clipped.grads), ...Object.values(loose.grads)]);
  });

  it.each([false, true])('keeps the EMA equal to the closed-form average of the weights (warm-up %s)', async (emaWarmup) => {
    const trainer = new Trainer(new ToyDenoiseTask(), records, { ...optimization, emaWarmup }, 2);
    let expected = await weightsOf(trainer.model);
    for (let i = 0; i < 3; i++) {
      // With warm-up the decay after i updates is min(0.9, (1 + i) / (10 + i)): 0.1, 0.18…, 0.25.
      const decay = emaWarmup ? Math.min(optimization.emaDecay, (1 + i) / (10 + i)) : optimization.emaDecay;
      await trainer.trainStep();
      const current = await weightsOf(trainer.model);
      expected = expected.map((e, k) => e.map((v, j) => decay * v + (1 - decay) * (current[k]?.[j] as number)));
    }
    expect(maxAbsDiff(await weightsOf(trainer.ema.model), expected)).toBeLessThan(1e-6);
    expect(maxAbsDiff(await weightsOf(trainer.ema.model), await weightsOf(trainer.model))).toBeGreaterThan(1e-4);
    trainer.dispose();
  });
});

describe('decoupled weight decay', () => {
  it('shrinks every kernel by lr·W of its pre-step value on top of the Adam step, and leaves biases alone', async () => {
    const weightDecay = 5;
    const plain = new Trainer(new ToyDenoiseTask(), records, optimization, 5);
    const decayed = new Trainer(new ToyDenoiseTask(), records, { ...optimization, weightDecay }, 5);
    // Non-zero biases, so that decaying them would show.
    const start = plain.model.getWeights().map((w, i) => new Rng(10 + i).normal(w.shape));
    plain.model.setWeights(start);
    decayed.model.setWeights(start);
    tf.dispose(start);
    const before = await weightsOf(plain.model);
    const ranks = plain.model.getWeights().map((w) => w.rank);
    const { lr } = await plain.trainStep();
    await decayed.trainStep();
    const a = await weightsOf(plain.model);
    const b = await weightsOf(decayed.model);
    expect(ranks).toEqual([4, 1, 4, 1]);
    ranks.forEach((rank, k) => {
      // Adam's step does not depend on the weights, so the decayed run differs by exactly −lr·W·w₀.
      const expected = (a[k] as Float32Array).map((v, j) => (rank >= 2 ? v - lr * weightDecay * (before[k]?.[j] as number) : v));
      expect(maxAbsDiff([b[k] as Float32Array], [expected])).toBeLessThan(1e-6);
    });
    expect(maxAbsDiff([b[0] as Float32Array], [a[0] as Float32Array])).toBeGreaterThan(1e-3);
    plain.dispose();
    decayed.dispose();
  });

  it('refuses a decay that would flip the sign of the weights', () => {
    expect(() => new Trainer(new ToyDenoiseTask(), records, { ...optimization, weightDecay: 100 }, 5)).toThrow(
      /weight decay must be ≥ 0 and below 1 \/ learning rate, got 100/,
    );
    expect(() => new Trainer(new ToyDenoiseTask(), records, { ...optimization, weightDecay: -1 }, 5)).toThrow(/weight decay must be ≥ 0/);
  });
});

describe('Trainer', () => {
  it('learns, and holds the tensor count flat across steps', async () => {
    const trainer = new Trainer(new ToyDenoiseTask(), records, { ...optimization, microBatch: 8, lr: 0.03 }, 3);
    const first = await trainer.trainStep();
    await trainer.trainStep();
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 25; i++) last = await trainer.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    expect(last.step).toBe(27);
    expect(last.loss).toBeLessThan(first.loss * 0.8);
    expect(last.metrics.predictedStd).toBeGreaterThan(0);
    trainer.dispose();
  });

  it('continues exactly from an in-memory snapshot', async () => {
    const straight = new Trainer(new ToyDenoiseTask(), records, optimization, 9);
    for (let i = 0; i < 6; i++) await straight.trainStep();

    const first = new Trainer(new ToyDenoiseTask(), records, optimization, 9);
    for (let i = 0; i < 3; i++) await first.trainStep();
    const snapshot = await first.snapshot();
    const resumed = new Trainer(new ToyDenoiseTask(), records, optimization, 1234);
    await resumed.restore({
      models: snapshot.models,
      tensors: snapshot.tensors,
      json: snapshot.json as unknown as Record<string, unknown>,
    });
    tf.dispose(Object.values(snapshot.tensors));
    first.dispose();
    expect(resumed.step).toBe(3);
    expect((resumed.task as ToyDenoiseTask).stepsSeen).toBe(3);
    for (let i = 0; i < 3; i++) await resumed.trainStep();
    expect(maxAbsDiff(await weightsOf(resumed.model), await weightsOf(straight.model))).toBeLessThan(1e-5);
    expect(maxAbsDiff(await weightsOf(resumed.ema.model), await weightsOf(straight.ema.model))).toBeLessThan(1e-5);
    expect(resumed.progress).toEqual(straight.progress);
    straight.dispose();
    resumed.dispose();
  });
});

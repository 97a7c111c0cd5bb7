import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addNoise, createSchedule, epsilonLoss, splitPrediction, velocityTarget } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);
const schedule = createSchedule({ kind: 'linear' });

describe('addNoise', () => {
  it('computes √ᾱ_t x0 + √(1 − ᾱ_t) ε with one timestep per sample', async () => {
    const x0 = tf.tensor4d([0.5, -1, 0.25, 1, 0, -0.5], [3, 1, 1, 2]);
    const eps = tf.tensor4d([1, 2, -1, 0.5, 3, -2], [3, 1, 1, 2]);
    const t = tf.tensor1d([0, 499, 999], 'int32');
    const xt = addNoise(schedule, x0, t, eps);
    expect(xt.shape).toEqual([3, 1, 1, 2]);
    const got = await xt.data();
    const x0v = await x0.data();
    const ev = await eps.data();
    [0, 499, 999].forEach((step, i) => {
      const a = schedule.alphasCumprod[step] as number;
      for (let d = 0; d < 2; d++) {
        const k = 2 * i + d;
        expect(got[k]).toBeCloseTo(Math.sqrt(a) * (x0v[k] as number) + Math.sqrt(1 - a) * (ev[k] as number), 5);
      }
    });
    tf.dispose([x0, eps, t, xt]);
  });

  it('has mean √ᾱ_t x0 and variance 1 − ᾱ_t over the noise', async () => {
    const n = 20000;
    const rng = new Rng(3);
    for (const step of [10, 300, 900]) {
      const x0 = tf.fill([n, 1, 1, 1], 0.8);
      const t = tf.fill([n], step, 'int32') as tf.Tensor1D;
      const eps = rng.normal([n, 1, 1, 1]);
      const xt = addNoise(schedule, x0, t, eps);
      const v = await xt.data();
      let mean = 0;
      for (const x of v) mean += x / n;
      let variance = 0;
      for (const x of v) variance += (x - mean) ** 2 / n;
      const a = schedule.alphasCumprod[step] as number;
      // 5 standard errors of each estimate.
      expect(Math.abs(mean - Math.sqrt(a) * 0.8)).toBeLessThan(5 * Math.sqrt((1 - a) / n));
      expect(Math.abs(variance - (1 - a))).toBeLessThan(5 * (1 - a) * Math.sqrt(2 / n));
      tf.dispose([x0, t, eps, xt]);
    }
  });

  it('rejects mismatched shapes, float timesteps and a wrong batch', () => {
    tf.tidy(() => {
      const x0 = tf.zeros([2, 2, 2, 1]);
      expect(() => addNoise(schedule, x0, tf.tensor1d([1, 2], 'int32'), tf.zeros([2, 2, 2, 3]))).toThrow(ValidationError);
      expect(() => addNoise(schedule, x0, tf.tensor1d([1, 2], 'float32'), x0)).toThrow(ValidationError);
      expect(() => addNoise(schedule, x0, tf.tensor1d([1, 2, 3], 'int32'), x0)).toThrow(ValidationError);
    });
  });
});

describe('epsilonLoss (theory question 5)', () => {
  it('is the mean of (ε̂ − ε)² over every element, worked by hand', async () => {
    // ε̂ − ε = [1, 0, −2, 3, 0.5, −0.5, 0, 1]; squares 1 + 0 + 4 + 9 + 0.25 + 0.25 + 0 + 1 = 15.5; 8 elements ⇒ 1.9375.
    // (A per-sample sum would give 14 and 1.5, averaged 7.75; a plain sum 15.5: the mean over all elements is asked.)
    const predicted = tf.tensor4d([1, 2, 3, 4, 0.5, 0, 1, 2], [2, 1, 2, 2]);
    const noise = tf.tensor4d([0, 2, 5, 1, 0, 0.5, 1, 1], [2, 1, 2, 2]);
    const loss = epsilonLoss(predicted, noise);
    expect(loss.rank).toBe(0);
    expect((await loss.data())[0]).toBeCloseTo(1.9375, 6);
    tf.dispose([predicted, noise, loss]);
  });

  it('has gradient 2(ε̂ − ε)/n with respect to ε̂', async () => {
    const predicted = tf.tensor1d([1, -1, 0.5, 2]);
    const noise = tf.tensor1d([0, 1, 0.5, -1]);
    const g = tf.grad((p: tf.Tensor) => epsilonLoss(p, noise))(predicted);
    expect(Array.from(await g.data())).toEqual([0.5, -1, 0, 1.5].map((v) => Math.fround(v)));
    tf.dispose([predicted, noise, g]);
  });

  it('rejects mismatched shapes', () => {
    tf.tidy(() => {
      expect(() => epsilonLoss(tf.zeros([2, 2]), tf.zeros([2, 3]))).toThrow(ValidationError);
    });
  });
});

describe('v-prediction', () => {
  it('v = √ᾱ ε − √(1 − ᾱ) x0, and splitPrediction recovers x0 and ε from v', async () => {
    tf.engine().startScope(); // frees every tensor of this test at endScope
    const rng = new Rng(9);
    const x0 = rng.uniform([4, 2, 2, 1], -1, 1);
    const eps = rng.normal([4, 2, 2, 1]);
    const step = 321;
    const t = tf.fill([4], step, 'int32') as tf.Tensor1D;
    const xt = addNoise(schedule, x0, t, eps);
    const v = velocityTarget(schedule, x0, t, eps);
    const a = schedule.alphasCumprod[step] as number;
    const expectedV = tf.sub(tf.mul(eps, Math.sqrt(a)), tf.mul(x0, Math.sqrt(1 - a)));
    const fromV = splitPrediction('v', v, xt, a, null);
    const fromEps = splitPrediction('epsilon', eps, xt, a, null);
    const fromX0 = splitPrediction('sample', x0, xt, a, null);
    const maxDiff = async (p: tf.Tensor, q: tf.Tensor) => (await tf.max(tf.abs(tf.sub(p, q))).data())[0] as number;
    expect(await maxDiff(v, expectedV)).toBeLessThan(1e-6);
    for (const pred of [fromV, fromEps, fromX0]) {
      expect(await maxDiff(pred.predictedX0, x0)).toBeLessThan(1e-4);
      expect(await maxDiff(pred.predictedNoise, eps)).toBeLessThan(1e-4);
    }
    tf.engine().endScope();
  });

  it('clipping x̂0 recomputes ε̂ so that x_t = √ᾱ x̂0 + √(1 − ᾱ) ε̂ still holds', async () => {
    const a = 0.3;
    const xt = tf.tensor1d([2.5, -0.2]);
    const eps = tf.tensor1d([-0.1, 0.4]);
    const { predictedX0, predictedNoise } = splitPrediction('epsilon', eps, xt, a, 1);
    const x0 = Array.from(await predictedX0.data());
    const e = Array.from(await predictedNoise.data());
    expect(x0[0]).toBe(1); // (2.5 + 0.1·√0.7)/√0.3 ≈ 4.7 clipped to 1
    expect(x0[1]).toBeCloseTo((-0.2 - 0.4 * Math.sqrt(0.7)) / Math.sqrt(0.3), 5);
    expect(e[0]).toBeCloseTo((2.5 - Math.sqrt(a)) / Math.sqrt(1 - a), 5);
    expect(e[1]).toBeCloseTo(0.4, 5);
  });
});

import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { contrastiveDivergenceLoss } from '../src/index.js';
import { useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

describe('contrastiveDivergenceLoss', () => {
  it('equals mean E⁺ − mean E⁻ + α(mean E⁺² + mean E⁻²) and returns its parts', async () => {
    const pos = [-1, 0.5, 2];
    const neg = [3, -0.5];
    const parts = contrastiveDivergenceLoss(tf.tensor1d(pos), tf.tensor1d(neg), 0.2);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const reg = mean(pos.map((v) => v * v)) + mean(neg.map((v) => v * v));
    expect((await parts.ePosMean.data())[0]).toBeCloseTo(mean(pos), 6);
    expect((await parts.eNegMean.data())[0]).toBeCloseTo(mean(neg), 6);
    expect((await parts.cdLoss.data())[0]).toBeCloseTo(mean(pos) - mean(neg), 6);
    expect((await parts.regularizer.data())[0]).toBeCloseTo(reg, 6);
    expect((await parts.loss.data())[0]).toBeCloseTo(mean(pos) - mean(neg) + 0.2 * reg, 6);
    tf.dispose(Object.values(parts));
  });

  it('pushes data energies down and sample energies up (gradient signs)', async () => {
    const ePos = tf.tensor1d([0.1, -0.2]);
    const eNeg = tf.tensor1d([0.3, 0.05]);
    const [gPos, gNeg] = tf.grads((p: tf.Tensor, n: tf.Tensor) => contrastiveDivergenceLoss(p, n).loss)([ePos, eNeg]);
    // d/dE⁺ᵢ = 1/n + 2αE⁺ᵢ/n > 0 (descent lowers E⁺); d/dE⁻ᵢ = −1/m + 2αE⁻ᵢ/m < 0 (descent raises E⁻).
    expect(Array.from(await gPos!.data())).toEqual([0.5 + 0.1 * 0.1, 0.5 - 0.1 * 0.2].map((v) => expect.closeTo(v, 6)));
    expect(Array.from(await gNeg!.data())).toEqual([-0.5 + 0.1 * 0.3, -0.5 + 0.1 * 0.05].map((v) => expect.closeTo(v, 6)));
    tf.dispose([ePos, eNeg, gPos!, gNeg!]);
  });

  it('has the closed-form gradient for any upstream gradient and shape, and agrees with finite differences', async () => {
    const pos = [0.4, -1.2, 0.7];
    const neg = [2.1, -0.3];
    const alpha = 0.25;
    const loss = (p: tf.Tensor, n: tf.Tensor) => tf.mul(contrastiveDivergenceLoss(p, n, alpha).loss, 3);
    const [gPos, gNeg] = tf.grads(loss)([tf.tensor2d(pos, [3, 1]), tf.tensor2d(neg, [2, 1])]);
    expect(gPos!.shape).toEqual([3, 1]);
    const closedPos = pos.map((e) => (3 * (1 + 2 * alpha * e)) / pos.length);
    const closedNeg = neg.map((e) => (3 * (-1 + 2 * alpha * e)) / neg.length);
    expect(Array.from(await gPos!.data())).toEqual(closedPos.map((v) => expect.closeTo(v, 5)));
    expect(Array.from(await gNeg!.data())).toEqual(closedNeg.map((v) => expect.closeTo(v, 5)));
    // Central differences of the loss's value (exact for a quadratic, up to float32 rounding).
    const h = 1e-2;
    const valueAt = (p: number[], n: number[]) =>
      tf.tidy(() => loss(tf.tensor2d(p, [p.length, 1]), tf.tensor2d(n, [n.length, 1])).dataSync()[0] as number);
    for (let i = 0; i < pos.length; i++) {
      const up = pos.map((v, j) => (j === i ? v + h : v));
      const down = pos.map((v, j) => (j === i ? v - h : v));
      expect((valueAt(up, neg) - valueAt(down, neg)) / (2 * h)).toBeCloseTo(closedPos[i] as number, 2);
    }
    tf.dispose([gPos!, gNeg!]);
  });

  it('is differentiable twice: the Hessian in E⁺ is 2α/n on the diagonal', async () => {
    const alpha = 0.3;
    const weights = tf.tensor1d([1, -2, 0.5, 4]);
    const neg = tf.tensor1d([0.2, -0.1]);
    const gradient = tf.grad((p: tf.Tensor) => contrastiveDivergenceLoss(p, neg, alpha).loss);
    // ∂/∂pⱼ Σᵢ wᵢ·∂L/∂pᵢ = wⱼ·2α/n: zero if the gradient were a constant to the outer tape.
    const second = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(gradient(p), weights)))(tf.tensor1d([0.3, -0.7, 1.1, 0]));
    expect(Array.from(await second.data())).toEqual([1, -2, 0.5, 4].map((w) => expect.closeTo((w * 2 * alpha) / 4, 6)));
    tf.dispose([weights, neg, second]);
  });

  it('leaves nothing behind in a training step: its parts belong to the enclosing scope', () => {
    const energies = tf.variable(tf.tensor1d([0.5, -0.5, 1, 2]));
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const parts = contrastiveDivergenceLoss(tf.slice(energies, 0, 2), tf.slice(energies, 2, 2));
          expect(parts.ePosMean.dataSync()[0]).toBeCloseTo(0, 6);
          return parts.loss;
        });
        tf.dispose([value, ...Object.values(grads)]);
      });
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    energies.dispose();
  });

  it('rejects a bad alpha or empty energies', () => {
    const e = tf.tensor1d([1]);
    expect(() => contrastiveDivergenceLoss(e, e, -1)).toThrow(ValidationError);
    expect(() => contrastiveDivergenceLoss(e, e, Number.NaN)).toThrow(ValidationError);
    expect(() => contrastiveDivergenceLoss(tf.tensor1d([]), e)).toThrow(ValidationError);
    e.dispose();
  });
});

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

  it('rejects a bad alpha or empty energies', () => {
    const e = tf.tensor1d([1]);
    expect(() => contrastiveDivergenceLoss(e, e, -1)).toThrow(ValidationError);
    expect(() => contrastiveDivergenceLoss(e, e, Number.NaN)).toThrow(ValidationError);
    expect(() => contrastiveDivergenceLoss(tf.tensor1d([]), e)).toThrow(ValidationError);
    e.dispose();
  });
});

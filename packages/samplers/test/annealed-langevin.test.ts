import { CancelledError, Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { annealedLangevin, geometricSigmas, type NoiseConditionalEnergy } from '../src/index.js';
import { columnMoments, useCpu } from './helpers.js';

beforeAll(useCpu);

// Data N(μ, τ²I) blurred by N(0, σ²I) is N(μ, (τ² + σ²)I): its energy at level σ is
// |x − μ|²/2(τ² + σ²), the exact noise-conditional energy a perfect model would learn.
const mu = [0.3, -0.5, 0.1, 0.0];
const tau = 0.4;
const sigmas = [1, 0.5, 0.25];
const blurred = (sigma: number) => tau * tau + sigma * sigma;
const gaussianEnergy: NoiseConditionalEnergy = (x, level) =>
  tf.tidy(() => tf.div(tf.sum(tf.square(tf.sub(x, tf.tensor1d(mu))), 1), 2 * blurred(sigmas[level] as number)));

describe('annealedLangevin on the exact energy of blurred Gaussian data', () => {
  const n = 2000;
  const stepSize = 0.02; // α at the last level
  const stepsPerLevel = 100;

  async function run(denoise: boolean): Promise<{ mean: number[]; variance: number[] }> {
    const rng = new Rng(5);
    const start = rng.normal([n, mu.length], 0, sigmas[0]);
    const out = await annealedLangevin(gaussianEnergy, start, { sigmas, stepsPerLevel, stepSize, denoise, clampRange: null, rng });
    start.dispose();
    const values = await out.data();
    out.dispose();
    return columnMoments(values as Float32Array, mu.length);
  }

  it("ends at the last level's law: mean μ, the unadjusted chain's exact stationary variance", async () => {
    // x' = x − (α/2)(x − μ)/v + √α z has stationary variance v/(1 − α/4v), v = τ² + σ_L².
    const v = blurred(sigmas.at(-1) as number);
    const stationary = v / (1 - stepSize / (4 * v));
    const { mean, variance } = await run(false);
    mean.forEach((m, d) => {
      expect(Math.abs(m - (mu[d] as number))).toBeLessThan(0.04);
    });
    // n·D = 8000 draws: the variance's standard error is ~1.6 %.
    for (const s2 of variance) expect(Math.abs(s2 / stationary - 1)).toBeLessThan(0.07);
  });

  it("the Tweedie step shrinks to the clean data's posterior mean: variance (τ²/v)² · stationary", async () => {
    const v = blurred(sigmas.at(-1) as number);
    const expected = ((tau * tau) / v) ** 2 * (v / (1 - stepSize / (4 * v)));
    const { mean, variance } = await run(true);
    mean.forEach((m, d) => {
      expect(Math.abs(m - (mu[d] as number))).toBeLessThan(0.04);
    });
    for (const s2 of variance) expect(Math.abs(s2 / expected - 1)).toBeLessThan(0.07);
  });

  it('reports every step with its level, stops on abort, clamps the result, and leaves no tensor behind', async () => {
    const rng = new Rng(1);
    const start = rng.normal([4, mu.length]);
    const levels: number[] = [];
    const before = tf.memory().numTensors;
    const out = await annealedLangevin(gaussianEnergy, start, {
      sigmas,
      stepsPerLevel: 2,
      rng,
      clampRange: [-0.1, 0.1],
      onStep: ({ level, step, total }) => {
        levels.push(level);
        expect(total).toBe(7);
        expect(step).toBe(levels.length);
      },
    });
    expect(levels).toEqual([0, 0, 1, 1, 2, 2, 2]);
    expect(Math.max(...(await out.data()).map(Math.abs))).toBeLessThanOrEqual(0.1 + 1e-7);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const controller = new AbortController();
    const aborted = annealedLangevin(gaussianEnergy, start, {
      sigmas,
      rng,
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 3) controller.abort();
      },
    });
    await expect(aborted).rejects.toThrow(CancelledError);
    expect(tf.memory().numTensors).toBe(before);
    start.dispose();
  });

  it('refuses bad settings and energies of the wrong shape', async () => {
    const rng = new Rng(1);
    const start = tf.zeros([2, 4]);
    await expect(annealedLangevin(gaussianEnergy, start, { sigmas: [0.5, 1], rng })).rejects.toThrow(ValidationError);
    await expect(annealedLangevin(gaussianEnergy, start, { sigmas: [], rng })).rejects.toThrow(/at least one/);
    await expect(annealedLangevin(gaussianEnergy, start, { sigmas, stepsPerLevel: 0, rng })).rejects.toThrow(/stepsPerLevel/);
    const before = tf.memory().numTensors;
    await expect(annealedLangevin((x) => tf.sum(x), start, { sigmas, rng })).rejects.toThrow(/one energy per sample/);
    expect(tf.memory().numTensors).toBe(before);
    start.dispose();
  });
});

describe('annealedLangevin with the ancestral predictor, on the same exact energy', () => {
  const n = 4000;
  const coarse = [4, 1.5, 0.6, 0.25, 0.1];
  const energyAt =
    (levels: readonly number[]): NoiseConditionalEnergy =>
    (x, level) =>
      tf.tidy(() => tf.div(tf.sum(tf.square(tf.sub(x, tf.tensor1d(mu))), 1), 2 * blurred(levels[level] as number)));

  /**
   * Every step is affine in x for this energy, so the law stays Gaussian and its mean and variance
   * follow in closed form: x' = a·x + b + c·z gives m' = a·m + b, s' = a²·s + c².
   */
  function exactMoments(wide: readonly number[], stepsPerLevel: number, stepSize: number, denoise: boolean) {
    let m = mu.map(() => 0);
    let s = (wide[0] as number) ** 2;
    const affine = (a: number, c: number, toward: number) => {
      m = m.map((mean, d) => a * mean + (1 - a) * (mu[d] as number) * toward);
      s = a * a * s + c * c;
    };
    wide.forEach((sigma, level) => {
      const v = blurred(sigma);
      if (level > 0) {
        const from = wide[level - 1] as number;
        const drop = from ** 2 - sigma ** 2;
        affine(1 - drop / blurred(from), (sigma / from) * Math.sqrt(drop), 1);
      }
      const alpha = stepSize * (sigma / (wide.at(-1) as number)) ** 2;
      for (let k = 0; k < stepsPerLevel; k++) affine(1 - alpha / (2 * v), Math.sqrt(alpha), 1);
    });
    if (denoise) affine(1 - (wide.at(-1) as number) ** 2 / blurred(wide.at(-1) as number), 0, 1);
    return { mean: m, variance: s };
  }

  async function sampleMoments(wide: readonly number[], stepsPerLevel: number, stepSize: number, denoise: boolean) {
    const rng = new Rng(9);
    const start = rng.normal([n, mu.length], 0, wide[0]);
    const out = await annealedLangevin(energyAt(wide), start, {
      sigmas: wide,
      predictor: 'ancestral',
      stepsPerLevel,
      stepSize,
      denoise,
      clampRange: null,
      rng,
    });
    start.dispose();
    const values = await out.data();
    out.dispose();
    return columnMoments(values as Float32Array, mu.length);
  }

  for (const [label, stepsPerLevel, stepSize, denoise] of [
    ['predictor alone', 0, 0.01, false],
    ['predictor, 3 corrector steps and the Tweedie step', 3, 0.004, true],
  ] as const) {
    it(`${label}: the samples' mean and variance are the closed form's`, async () => {
      const exact = exactMoments(coarse, stepsPerLevel, stepSize, denoise);
      const { mean, variance } = await sampleMoments(coarse, stepsPerLevel, stepSize, denoise);
      // n·D = 16,000 draws: standard errors ~0.016·√s for a mean, ~1.1 % for a variance.
      mean.forEach((m, d) => {
        expect(Math.abs(m - (exact.mean[d] as number))).toBeLessThan(0.06 * Math.sqrt(exact.variance));
      });
      for (const s2 of variance) expect(Math.abs(s2 / exact.variance - 1)).toBeLessThan(0.05);
    });
  }

  it('ends at the blurred data law from noise 10× wider than the data, with no step size to tune', async () => {
    // The ancestral step is exact only for τ = 0; its error shrinks as the levels close up:
    // 200 levels end within 2 % of N(μ, τ² + σ_L²)'s variance, the coarse 5 about half of it.
    const fine = geometricSigmas(4, 0.1, 200);
    const target = blurred(0.1);
    expect(exactMoments(fine, 0, 1, false).variance / target).toBeGreaterThan(0.97);
    expect(exactMoments(coarse, 0, 1, false).variance / target).toBeLessThan(0.55);
    const { mean, variance } = await sampleMoments(fine, 0, 1, false);
    const exact = exactMoments(fine, 0, 1, false).variance;
    for (const s2 of variance) expect(Math.abs(s2 / exact - 1)).toBeLessThan(0.07);
    mean.forEach((m, d) => {
      expect(Math.abs(m - (mu[d] as number))).toBeLessThan(0.05);
    });
  });

  it('counts the predictor steps in its progress and refuses a predictor it does not know', async () => {
    const rng = new Rng(1);
    const start = rng.normal([3, mu.length]);
    const seen: Array<[number, number]> = [];
    const out = await annealedLangevin(gaussianEnergy, start, {
      sigmas,
      predictor: 'ancestral',
      stepsPerLevel: 1,
      rng,
      onStep: ({ step, total, level }) => {
        seen.push([step, level]);
        expect(total).toBe(3 + 2 + 1);
      },
    });
    expect(seen.map(([, level]) => level)).toEqual([0, 1, 1, 2, 2, 2]);
    out.dispose();
    await expect(annealedLangevin(gaussianEnergy, start, { sigmas, predictor: 'euler' as never, rng })).rejects.toThrow(/predictor/);
    await expect(annealedLangevin(gaussianEnergy, start, { sigmas, predictor: 'ancestral', stepsPerLevel: -1, rng })).rejects.toThrow(
      /stepsPerLevel must be an integer ≥ 0/,
    );
    start.dispose();
  });
});

describe('geometricSigmas', () => {
  it('spaces levels by a constant ratio from max to min', () => {
    const s = geometricSigmas(1, 0.01, 5);
    expect(s[0]).toBe(1);
    expect(s[4]).toBe(0.01);
    for (let i = 1; i < s.length; i++) expect((s[i] as number) / (s[i - 1] as number)).toBeCloseTo(Math.sqrt(0.1), 12);
    expect(() => geometricSigmas(0.01, 1, 5)).toThrow(ValidationError);
    expect(() => geometricSigmas(1, 0.01, 1)).toThrow(/levels/);
  });
});

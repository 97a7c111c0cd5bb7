import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSampler, createSchedule, DDIMSampler, DDPMSampler, ddpmStepCoefficients, spacedTimesteps } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);
const schedule = createSchedule({ kind: 'linear' });

const maxAbsDiff = async (a: tf.Tensor, b: tf.Tensor) => {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0] as number;
  d.dispose();
  return v;
};

/** x_t built from a known x0 and ε, so the exact ε is a perfect model output. */
function noisedPair(t: number, n: number, rng: Rng) {
  const x0 = rng.uniform([n, 1, 1, 1], -0.9, 0.9);
  const eps = rng.normal([n, 1, 1, 1]);
  const a = schedule.alphasCumprod[t] as number;
  const xt = tf.add(tf.mul(x0, Math.sqrt(a)), tf.mul(eps, Math.sqrt(1 - a)));
  return { x0, eps, xt };
}

describe('timestep spacing', () => {
  it('picks diffusers’ leading, trailing and linspace timesteps', () => {
    expect(spacedTimesteps(1000, 10, 'leading')).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(spacedTimesteps(1000, 10, 'trailing')).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spacedTimesteps(1000, 4, 'linspace')).toEqual([999, 666, 333, 0]);
    expect(spacedTimesteps(7, 7, 'leading')).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(() => spacedTimesteps(1000, 1001, 'leading')).toThrow(ValidationError);
    expect(() => spacedTimesteps(1000, 0, 'leading')).toThrow(ValidationError);
  });

  it('chains previousTimestep through the chosen timesteps and ends at −1', () => {
    const s = new DDIMSampler(schedule);
    expect(s.timesteps.length).toBe(1000);
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([750, 500, 250, 0]);
    expect([750, 500, 250, 0].map((t) => s.previousTimestep(t))).toEqual([500, 250, 0, -1]);
    expect(() => s.previousTimestep(600)).toThrow(ValidationError);
    expect(() => s.previousTimestep(1000)).toThrow(ValidationError);
  });
});

describe('DDPM step', () => {
  it('uses the schedule’s posterior coefficients for single steps and Bayes’ rule for strided jumps', () => {
    for (const t of [1, 10, 500, 999]) {
      const c = ddpmStepCoefficients(schedule, t, t - 1);
      expect(c.meanCoefX0).toBeCloseTo(schedule.posteriorMeanCoef1[t] as number, 12);
      expect(c.meanCoefXt).toBeCloseTo(schedule.posteriorMeanCoef2[t] as number, 12);
      expect(c.variance).toBeCloseTo(schedule.posteriorVariance[t] as number, 12);
      expect(ddpmStepCoefficients(schedule, t, t - 1, 'fixed-large').variance).toBeCloseTo(schedule.betas[t] as number, 12);
    }
    // A jump 600 → 400 is one Gaussian step with ᾱ_600/ᾱ_400 = 1 − β'; posterior by Bayes.
    const a6 = schedule.alphasCumprod[600] as number;
    const a4 = schedule.alphasCumprod[400] as number;
    const alphaJump = a6 / a4;
    const precision = alphaJump / (1 - alphaJump) + 1 / (1 - a4);
    const c = ddpmStepCoefficients(schedule, 600, 400);
    expect(c.variance).toBeCloseTo(1 / precision, 12);
    expect(c.meanCoefXt).toBeCloseTo(Math.sqrt(alphaJump) / (1 - alphaJump) / precision, 12);
    expect(c.meanCoefX0).toBeCloseTo(Math.sqrt(a4) / (1 - a4) / precision, 12);
    expect(ddpmStepCoefficients(schedule, 5, -1)).toEqual({ meanCoefX0: expect.closeTo(1, 12), meanCoefXt: 0, variance: 0 });
  });

  it('draws x_{t−1} with the posterior mean and variance of q(x_{t−1} | x_t, x0) given the exact ε', async () => {
    const rng = new Rng(21);
    const n = 20000;
    const t = 500;
    const { x0, eps, xt } = noisedPair(t, n, rng);
    for (const varianceType of ['fixed-small', 'fixed-large'] as const) {
      const sampler = new DDPMSampler(schedule, { varianceType });
      const { prevSample, predictedX0 } = sampler.step(eps, t, xt, rng);
      expect(await maxAbsDiff(predictedX0, x0)).toBeLessThan(1e-4);
      // Residual after removing the closed-form mean must be N(0, variance).
      const c1 = schedule.posteriorMeanCoef1[t] as number;
      const c2 = schedule.posteriorMeanCoef2[t] as number;
      const residual = tf.sub(prevSample, tf.add(tf.mul(x0, c1), tf.mul(xt, c2)));
      const r = await residual.data();
      let mean = 0;
      let sq = 0;
      for (const v of r) {
        mean += v / n;
        sq += (v * v) / n;
      }
      const expectedVar = varianceType === 'fixed-small' ? (schedule.posteriorVariance[t] as number) : (schedule.betas[t] as number);
      expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(expectedVar / n));
      expect(Math.abs(sq / expectedVar - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
      tf.dispose([prevSample, predictedX0, residual]);
    }
    tf.dispose([x0, eps, xt]);
  });

  it('adds no noise on the last step and needs an Rng otherwise', async () => {
    const rng = new Rng(2);
    const { x0, eps, xt } = noisedPair(0, 8, rng);
    const sampler = new DDPMSampler(schedule);
    const { prevSample } = sampler.step(eps, 0, xt);
    expect(await maxAbsDiff(prevSample, x0)).toBeLessThan(1e-4);
    expect(() => sampler.step(eps, 1, xt)).toThrow(ValidationError);
    expect(() => sampler.step(tf.zeros([8, 1, 1, 2]), 1, xt, rng)).toThrow(ValidationError);
    tf.dispose([x0, eps, xt, prevSample]);
  });

  it('clips x̂0 to [−1, 1] by default and not when clipSample is false', async () => {
    const xt = tf.fill([1, 1, 1, 1], 3);
    const eps = tf.zeros([1, 1, 1, 1]);
    const clipped = new DDPMSampler(schedule).step(eps, 10, xt, new Rng(1));
    const free = new DDPMSampler(schedule, { clipSample: false }).step(eps, 10, xt, new Rng(1));
    expect((await clipped.predictedX0.data())[0]).toBe(1);
    expect((await free.predictedX0.data())[0]).toBeCloseTo(3 / Math.sqrt(schedule.alphasCumprod[10] as number), 4);
    tf.dispose([xt, eps, clipped.prevSample, clipped.predictedX0, free.prevSample, free.predictedX0]);
  });
});

describe('DDIM step', () => {
  it('with η = 0 maps x_t of a known (x0, ε) to √ᾱ_prev x0 + √(1 − ᾱ_prev) ε exactly, with no randomness', async () => {
    const rng = new Rng(4);
    const sampler = new DDIMSampler(schedule, { eta: 0 });
    sampler.setTimesteps(20);
    const t = sampler.timesteps[3] as number;
    const prev = sampler.previousTimestep(t);
    const { x0, eps, xt } = noisedPair(t, 64, rng);
    const ap = schedule.alphasCumprod[prev] as number;
    const expected = tf.add(tf.mul(x0, Math.sqrt(ap)), tf.mul(eps, Math.sqrt(1 - ap)));
    const a = sampler.step(eps, t, xt);
    const b = sampler.step(eps, t, xt, new Rng(99));
    expect(await maxAbsDiff(a.prevSample, expected)).toBeLessThan(1e-5);
    expect(Array.from(await a.prevSample.data())).toEqual(Array.from(await b.prevSample.data()));
    tf.dispose([x0, eps, xt, expected, a.prevSample, a.predictedX0, b.prevSample, b.predictedX0]);
  });

  it('with η = 1 is exactly the DDPM fixed-small step, also over strided timesteps', async () => {
    for (const steps of [1000, 10]) {
      const ddim = new DDIMSampler(schedule, { eta: 1 });
      const ddpm = new DDPMSampler(schedule);
      ddim.setTimesteps(steps);
      ddpm.setTimesteps(steps);
      const x = new Rng(5).normal([6, 2, 2, 1]);
      const out = new Rng(6).normal([6, 2, 2, 1]);
      for (const t of [ddim.timesteps[0] as number, ddim.timesteps[steps >> 1] as number]) {
        const a = ddim.step(out, t, x, new Rng(7));
        const b = ddpm.step(out, t, x, new Rng(7));
        expect(await maxAbsDiff(a.prevSample, b.prevSample)).toBeLessThan(2e-5);
        tf.dispose([a.prevSample, a.predictedX0, b.prevSample, b.predictedX0]);
      }
      tf.dispose([x, out]);
    }
  });

  it('has σ_t(η) = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)', () => {
    const s = new DDIMSampler(schedule, { eta: 0.5 });
    const at = schedule.alphasCumprod[700] as number;
    const ap = schedule.alphasCumprod[650] as number;
    expect(s.noiseStd(700, 650)).toBeCloseTo(0.5 * Math.sqrt((1 - ap) / (1 - at)) * Math.sqrt(1 - at / ap), 12);
    expect(new DDIMSampler(schedule).noiseStd(700, 650)).toBe(0);
  });

  it('accepts v and x0 predictions consistently with ε', async () => {
    const rng = new Rng(8);
    const t = 400;
    const { x0, eps, xt } = noisedPair(t, 16, rng);
    const a = schedule.alphasCumprod[t] as number;
    const v = tf.sub(tf.mul(eps, Math.sqrt(a)), tf.mul(x0, Math.sqrt(1 - a)));
    const outputs = { epsilon: eps, v, sample: x0 } as const;
    const results = [];
    for (const predictionType of ['epsilon', 'v', 'sample'] as const) {
      const s = new DDIMSampler(schedule, { predictionType });
      results.push(s.step(outputs[predictionType], t, xt).prevSample);
    }
    expect(await maxAbsDiff(results[0] as tf.Tensor, results[1] as tf.Tensor)).toBeLessThan(1e-4);
    expect(await maxAbsDiff(results[0] as tf.Tensor, results[2] as tf.Tensor)).toBeLessThan(1e-4);
    tf.dispose([x0, eps, xt, v, ...results]);
  });
});

describe('sampler options', () => {
  it('rejects bad options with ValidationError', () => {
    expect(() => new DDIMSampler(schedule, { eta: -1 })).toThrow(ValidationError);
    expect(() => new DDPMSampler(schedule, { varianceType: 'learned' as 'fixed-small' })).toThrow(ValidationError);
    expect(() => new DDPMSampler(schedule, { predictionType: 'score' as 'v' })).toThrow(ValidationError);
    expect(() => new DDPMSampler(schedule, { timestepSpacing: 'karras' as 'leading' })).toThrow(ValidationError);
    expect(() => createSampler(schedule, { kind: 'euler' } as unknown as { kind: 'ddpm' })).toThrow(ValidationError);
    expect(createSampler(schedule, { kind: 'ddim', eta: 0.3 })).toBeInstanceOf(DDIMSampler);
  });
});

import { ValidationError } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { createSchedule, scheduleFromBetas, timestepAtSigma } from '../src/index.js';

const close = (a: number, b: number, rel = 1e-12) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

describe('linear schedule (Ho et al.)', () => {
  const s = createSchedule({ kind: 'linear' });

  it('has T = 1000 betas evenly spaced from 1e-4 to 0.02', () => {
    expect(s.timesteps).toBe(1000);
    expect(s.betas.length).toBe(1000);
    expect(s.betas[0]).toBeCloseTo(1e-4, 15);
    expect(s.betas[999]).toBeCloseTo(0.02, 15);
    for (const t of [1, 250, 500, 998]) expect(close(s.betas[t] as number, 1e-4 + (t * (0.02 - 1e-4)) / 999)).toBe(true);
  });

  it('has ᾱ_t equal to the running product of 1 − β, and ᾱ_{t−1} shifted by one', () => {
    let product = 1;
    for (let t = 0; t < 1000; t++) {
      expect(s.alphasCumprodPrev[t]).toBe(product);
      product *= 1 - (s.betas[t] as number);
      expect(close(s.alphasCumprod[t] as number, product)).toBe(true);
      expect(s.alphas[t]).toBe(1 - (s.betas[t] as number));
    }
    // Known value (Ho et al.'s schedule): ᾱ_999 ≈ 4.04e-5 (log ᾱ = Σ log(1 − β)).
    expect((s.alphasCumprod[999] as number) * 1e5).toBeCloseTo(4.036, 2);
  });

  it('has consistent square-root terms', () => {
    for (const t of [0, 1, 10, 500, 999]) {
      const a = s.alphasCumprod[t] as number;
      expect(close(s.sqrtAlphasCumprod[t] as number, Math.sqrt(a))).toBe(true);
      expect(close(s.sqrtOneMinusAlphasCumprod[t] as number, Math.sqrt(1 - a))).toBe(true);
      expect(close(s.sqrtRecipAlphasCumprod[t] as number, 1 / Math.sqrt(a))).toBe(true);
      expect(close(s.sqrtRecipm1AlphasCumprod[t] as number, Math.sqrt(1 / a - 1))).toBe(true);
      // x̂0 = x_t/√ᾱ − √(1/ᾱ − 1)·ε inverts x_t = √ᾱ x0 + √(1 − ᾱ) ε.
      const x0 = 0.3;
      const eps = -1.7;
      const xt = Math.sqrt(a) * x0 + Math.sqrt(1 - a) * eps;
      expect((s.sqrtRecipAlphasCumprod[t] as number) * xt - (s.sqrtRecipm1AlphasCumprod[t] as number) * eps).toBeCloseTo(x0, 9);
    }
  });

  it('has the posterior of q(x_{t−1} | x_t, x_0) given by Bayes’ rule', () => {
    // Independent derivation: q(x_{t−1}|x0) = N(√ᾱ_{t−1} x0, 1 − ᾱ_{t−1}) times q(x_t|x_{t−1}) =
    // N(√α_t x_{t−1}, β_t) ⇒ precision α_t/β_t + 1/(1 − ᾱ_{t−1}), mean var·(√α_t x_t/β_t + √ᾱ_{t−1} x0/(1 − ᾱ_{t−1})).
    for (const t of [1, 2, 50, 500, 999]) {
      const beta = s.betas[t] as number;
      const alpha = 1 - beta;
      const prev = s.alphasCumprod[t - 1] as number;
      const variance = 1 / (alpha / beta + 1 / (1 - prev));
      expect(close(s.posteriorVariance[t] as number, variance, 1e-9)).toBe(true);
      expect(close(s.posteriorMeanCoef1[t] as number, (variance * Math.sqrt(prev)) / (1 - prev), 1e-9)).toBe(true);
      expect(close(s.posteriorMeanCoef2[t] as number, (variance * Math.sqrt(alpha)) / beta, 1e-9)).toBe(true);
      expect(close(s.posteriorLogVarianceClipped[t] as number, Math.log(variance), 1e-9)).toBe(true);
    }
    // At t = 0 the posterior is a point mass at x0: β̃_0 = 0, mean = x0; the log variance is clipped to β̃_1.
    expect(s.posteriorVariance[0]).toBe(0);
    expect(s.posteriorMeanCoef1[0]).toBeCloseTo(1, 12);
    expect(s.posteriorMeanCoef2[0]).toBe(0);
    expect(s.posteriorLogVarianceClipped[0]).toBe(Math.log(s.posteriorVariance[1] as number));
  });
});

describe('cosine schedule (Nichol & Dhariwal)', () => {
  const s = createSchedule({ kind: 'cosine' });
  const f = (t: number) => Math.cos((((t / 1000 + 0.008) / 1.008) * Math.PI) / 2) ** 2;

  it('follows ᾱ(t) = f(t + 1)/f(0) wherever β is not clipped', () => {
    for (const t of [0, 1, 100, 500, 900, 990]) {
      expect(close(s.alphasCumprod[t] as number, f(t + 1) / f(0), 1e-9)).toBe(true);
      expect(close(s.betas[t] as number, 1 - f(t + 1) / f(t), 1e-12)).toBe(true);
    }
  });

  it('clips β at 0.999 near t = T and stays in (0, 0.999]', () => {
    expect(s.betas[999]).toBe(0.999);
    for (const b of s.betas) expect(b > 0 && b <= 0.999).toBe(true);
    // Without the clip β_999 = 1 − f(1000)/f(999) = 1 exactly.
    expect(1 - f(1000) / f(999)).toBeCloseTo(1, 12);
  });

  it('honours custom T, offset and clip', () => {
    const c = createSchedule({ kind: 'cosine', timesteps: 10, cosineOffset: 0.1, maxBeta: 0.5 });
    const g = (t: number) => Math.cos((((t / 10 + 0.1) / 1.1) * Math.PI) / 2) ** 2;
    expect(c.betas.length).toBe(10);
    expect(close(c.betas[0] as number, 1 - g(1) / g(0))).toBe(true);
    expect(c.betas[9]).toBe(0.5);
  });
});

describe('schedule validation', () => {
  it('rejects bad options with ValidationError', () => {
    expect(() => createSchedule({ kind: 'linear', timesteps: 0 })).toThrow(ValidationError);
    expect(() => createSchedule({ kind: 'linear', timesteps: 2.5 })).toThrow(ValidationError);
    expect(() => createSchedule({ kind: 'linear', betaEnd: 1.5 })).toThrow(ValidationError);
    expect(() => createSchedule({ kind: 'cosine', maxBeta: 1 })).toThrow(ValidationError);
    expect(() => createSchedule({ kind: 'quadratic' as 'linear' })).toThrow(ValidationError);
    expect(() => scheduleFromBetas('linear', Float64Array.from([0.1, 0]))).toThrow(ValidationError);
  });

  it('scales the linear endpoints only when asked', () => {
    const s = createSchedule({ kind: 'linear', timesteps: 100, betaStart: 1e-3, betaEnd: 0.2 });
    expect(s.betas[0]).toBeCloseTo(1e-3, 15);
    expect(s.betas[99]).toBeCloseTo(0.2, 15);
    expect(s.alphasCumprod[99] as number).toBeLessThan(1e-4);
  });
});

describe('timestepAtSigma', () => {
  const s = createSchedule({ kind: 'linear' });
  const sigmaAt = (t: number) => Math.sqrt(1 / (s.alphasCumprod[t] as number) - 1);

  it('returns the integer timestep whose √(1/ᾱ_t − 1) is σ', () => {
    for (const t of [0, 1, 37, 500, 998, 999]) expect(timestepAtSigma(s, sigmaAt(t))).toBeCloseTo(t, 9);
  });

  it('interpolates linearly in log σ between neighbours, and clamps outside the schedule', () => {
    const between = Math.sqrt(sigmaAt(100) * sigmaAt(101)); // the geometric midpoint
    expect(timestepAtSigma(s, between)).toBeCloseTo(100.5, 9);
    expect(timestepAtSigma(s, sigmaAt(0) / 2)).toBe(0);
    expect(timestepAtSigma(s, sigmaAt(999) * 2)).toBe(999);
  });

  it('refuses a σ that is not a positive finite number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => timestepAtSigma(s, bad)).toThrow(ValidationError);
  });
});

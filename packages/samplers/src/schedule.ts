import { ValidationError } from '@lab/core';

/** The two β schedules genlab knows: Ho et al.'s linear one and Nichol & Dhariwal's cosine one. */
export type ScheduleKind = 'linear' | 'cosine';

/** Options of {@link createSchedule}. */
export interface ScheduleOptions {
  readonly kind: ScheduleKind;
  /** Number of diffusion steps T (default 1000). */
  readonly timesteps?: number;
  /** Linear schedule: β at t = 0 (default 1e-4, Ho et al.). */
  readonly betaStart?: number;
  /** Linear schedule: β at t = T − 1 (default 0.02, Ho et al.). */
  readonly betaEnd?: number;
  /** Cosine schedule: the small offset s that keeps β_0 from vanishing (default 0.008). */
  readonly cosineOffset?: number;
  /** Cosine schedule: upper clip of β, avoiding a singularity at t = T (default 0.999). */
  readonly maxBeta?: number;
}

/**
 * A discrete DDPM noise schedule, every per-step quantity precomputed in float64.
 *
 * Indices run over t = 0 … T − 1 (array index = timestep, the convention of diffusers
 * and improved-diffusion; the paper's t = 1 … T is shifted by one). With
 * ᾱ_t = Π_{s ≤ t} (1 − β_s) and ᾱ_{−1} = 1:
 * - forward marginal: q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I);
 * - posterior q(x_{t−1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, β̃_t I) with
 *   β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), c1_t = β_t √ᾱ_{t−1} / (1 − ᾱ_t),
 *   c2_t = (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t).
 */
export interface NoiseSchedule {
  readonly kind: ScheduleKind;
  /** T, the number of diffusion steps. */
  readonly timesteps: number;
  readonly betas: Float64Array;
  /** α_t = 1 − β_t. */
  readonly alphas: Float64Array;
  /** ᾱ_t = Π_{s ≤ t} α_s. */
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with ᾱ_{−1} = 1. */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** 1 / √ᾱ_t. */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t − 1), so that x̂_0 = x_t / √ᾱ_t − √(1/ᾱ_t − 1) ε. */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t, the variance of q(x_{t−1} | x_t, x_0) (zero at t = 0). */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t with the t = 0 entry replaced by β̃_1 (β̃_0 = 0 has no logarithm). */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** c1_t, the coefficient of x_0 in the posterior mean. */
  readonly posteriorMeanCoef1: Float64Array;
  /** c2_t, the coefficient of x_t in the posterior mean. */
  readonly posteriorMeanCoef2: Float64Array;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new ValidationError(`${name} must be a positive integer, got ${value}`);
}

function checkProbability(name: string, value: number): void {
  if (!(value > 0 && value < 1)) throw new ValidationError(`${name} must lie in (0, 1), got ${value}`);
}

/** β_t evenly spaced from betaStart to betaEnd (Ho et al. 2020, §4). */
function linearBetas(T: number, betaStart: number, betaEnd: number): Float64Array {
  const betas = new Float64Array(T);
  for (let t = 0; t < T; t++) betas[t] = T === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (T - 1);
  return betas;
}

/**
 * Nichol & Dhariwal 2021, eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2),
 * β_t = min(1 − ᾱ(t+1)/ᾱ(t), maxBeta).
 */
function cosineBetas(T: number, s: number, maxBeta: number): Float64Array {
  const f = (t: number) => Math.cos((((t / T + s) / (1 + s)) * Math.PI) / 2) ** 2;
  const betas = new Float64Array(T);
  for (let t = 0; t < T; t++) betas[t] = Math.min(1 - f(t + 1) / f(t), maxBeta);
  return betas;
}

/** Precomputes every schedule quantity from β (the single source of truth). */
export function scheduleFromBetas(kind: ScheduleKind, betas: Float64Array): NoiseSchedule {
  const T = betas.length;
  if (T < 1) throw new ValidationError('A schedule needs at least one beta');
  const arr = () => new Float64Array(T);
  const alphas = arr();
  const alphasCumprod = arr();
  const alphasCumprodPrev = arr();
  const sqrtAlphasCumprod = arr();
  const sqrtOneMinusAlphasCumprod = arr();
  const sqrtRecipAlphasCumprod = arr();
  const sqrtRecipm1AlphasCumprod = arr();
  const posteriorVariance = arr();
  const posteriorLogVarianceClipped = arr();
  const posteriorMeanCoef1 = arr();
  const posteriorMeanCoef2 = arr();
  let cumprod = 1;
  for (let t = 0; t < T; t++) {
    const beta = betas[t] as number;
    if (!(beta > 0 && beta < 1)) throw new ValidationError(`beta[${t}] must lie in (0, 1), got ${beta}`);
    const alpha = 1 - beta;
    const prev = cumprod;
    cumprod *= alpha;
    alphas[t] = alpha;
    alphasCumprod[t] = cumprod;
    alphasCumprodPrev[t] = prev;
    sqrtAlphasCumprod[t] = Math.sqrt(cumprod);
    sqrtOneMinusAlphasCumprod[t] = Math.sqrt(1 - cumprod);
    sqrtRecipAlphasCumprod[t] = 1 / Math.sqrt(cumprod);
    sqrtRecipm1AlphasCumprod[t] = Math.sqrt(1 / cumprod - 1);
    posteriorVariance[t] = (beta * (1 - prev)) / (1 - cumprod);
    posteriorMeanCoef1[t] = (beta * Math.sqrt(prev)) / (1 - cumprod);
    posteriorMeanCoef2[t] = ((1 - prev) * Math.sqrt(alpha)) / (1 - cumprod);
  }
  for (let t = 0; t < T; t++) {
    // β̃_0 = 0; improved-diffusion substitutes β̃_1 so the log stays finite.
    const v = t === 0 && T > 1 ? (posteriorVariance[1] as number) : (posteriorVariance[t] as number);
    posteriorLogVarianceClipped[t] = Math.log(v > 0 ? v : (betas[0] as number));
  }
  return {
    kind,
    timesteps: T,
    betas: Float64Array.from(betas),
    alphas,
    alphasCumprod,
    alphasCumprodPrev,
    sqrtAlphasCumprod,
    sqrtOneMinusAlphasCumprod,
    sqrtRecipAlphasCumprod,
    sqrtRecipm1AlphasCumprod,
    posteriorVariance,
    posteriorLogVarianceClipped,
    posteriorMeanCoef1,
    posteriorMeanCoef2,
  };
}

/**
 * Builds a noise schedule. Defaults: T = 1000; linear β from 1e-4 to 0.02 (Ho et al.);
 * cosine with s = 0.008 and β clipped at 0.999 (Nichol & Dhariwal).
 *
 * The linear endpoints are not rescaled for T ≠ 1000; pass `betaStart`/`betaEnd`
 * (e.g. ×1000/T) to keep ᾱ_{T−1} near zero with fewer steps.
 */
export function createSchedule(options: ScheduleOptions): NoiseSchedule {
  const T = options.timesteps ?? 1000;
  checkPositiveInteger('timesteps', T);
  if (options.kind === 'linear') {
    const betaStart = options.betaStart ?? 1e-4;
    const betaEnd = options.betaEnd ?? 0.02;
    checkProbability('betaStart', betaStart);
    checkProbability('betaEnd', betaEnd);
    return scheduleFromBetas('linear', linearBetas(T, betaStart, betaEnd));
  }
  if (options.kind === 'cosine') {
    const s = options.cosineOffset ?? 0.008;
    const maxBeta = options.maxBeta ?? 0.999;
    if (!(s >= 0 && Number.isFinite(s))) throw new ValidationError(`cosineOffset must be a finite number ≥ 0, got ${s}`);
    checkProbability('maxBeta', maxBeta);
    return scheduleFromBetas('cosine', cosineBetas(T, s, maxBeta));
  }
  throw new ValidationError(`Unknown schedule kind '${String((options as { kind: unknown }).kind)}' (expected 'linear' or 'cosine')`);
}

/** Throws ValidationError unless t is an integer timestep of `schedule`. */
export function checkTimestep(schedule: NoiseSchedule, t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= schedule.timesteps) {
    throw new ValidationError(`Timestep ${t} is outside [0, ${schedule.timesteps - 1}]`);
  }
}

/**
 * The continuous timestep at which `schedule` holds the variance-exploding noise level σ: where
 * √(1/ᾱ_t − 1) = σ, so that x_t/√ᾱ_t = x_0 + σε. Linear in log σ between neighbouring timesteps,
 * clamped to [0, T − 1]. This is how a model trained on the schedule (a DDPM UNet, whose time
 * embedding takes fractional t) is asked about σ: input x/√(1 + σ²) (= √ᾱ_t·x) at this t.
 */
export function timestepAtSigma(schedule: NoiseSchedule, sigma: number): number {
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new ValidationError(`sigma must be a finite number > 0, got ${sigma}`);
  const levels = schedule.sqrtRecipm1AlphasCumprod; // increasing in t
  const last = schedule.timesteps - 1;
  if (sigma <= (levels[0] as number)) return 0;
  if (sigma >= (levels[last] as number)) return last;
  let low = 0;
  let high = last;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if ((levels[middle] as number) <= sigma) low = middle;
    else high = middle;
  }
  const from = Math.log(levels[low] as number);
  const to = Math.log(levels[high] as number);
  return low + (Math.log(sigma) - from) / (to - from);
}

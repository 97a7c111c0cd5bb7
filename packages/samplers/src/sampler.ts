import { type Rng, ValidationError } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from './forward.js';
import { checkTimestep, type NoiseSchedule } from './schedule.js';

/**
 * A noise-prediction network as the samplers see it: noisy images x [B,H,W,C], float32
 * timesteps t [B] and optional int32 class labels y [B] → the model output (ε̂ by default),
 * shaped like x. It must be synchronous (it runs inside `tf.tidy`).
 */
export type Denoiser = (x: tf.Tensor4D, t: tf.Tensor1D, y?: tf.Tensor1D) => tf.Tensor4D;

/** How `setTimesteps(n)` picks n of the T training timesteps (diffusers' names). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/** One reverse step's result: x at the previous timestep, and the x̂_0 the step used. */
export interface SamplerStepResult {
  readonly prevSample: tf.Tensor;
  readonly predictedX0: tf.Tensor;
}

/**
 * A reverse-process sampler, separate from any network (as diffusers' schedulers are):
 * call `setTimesteps(n)`, then for each `t` of `timesteps` (descending) feed the model
 * output at (x, t) to `step`.
 */
export interface Sampler {
  readonly kind: 'ddpm' | 'ddim' | 'dpm-solver++';
  readonly schedule: NoiseSchedule;
  /** What the model it steps with predicts (absent: 'epsilon'). */
  readonly predictionType?: PredictionType;
  /** The timesteps of one sampling run, descending; all T of them until `setTimesteps` is called. */
  readonly timesteps: readonly number[];
  /** Chooses n ≤ T evenly spaced timesteps. */
  setTimesteps(n: number): void;
  /** The timestep that follows t in `timesteps`, or −1 after the last one. */
  previousTimestep(t: number): number;
  /**
   * One reverse step from x_t to x_{prev}. Tensors returned are new (the caller disposes
   * them); inputs are not disposed. `rng` supplies the noise of stochastic steps.
   */
  step(modelOutput: tf.Tensor, t: number, x: tf.Tensor, rng?: Rng): SamplerStepResult;
}

/** Options shared by DDPM and DDIM. */
export interface SamplerOptions {
  /** What the model predicts (default 'epsilon'). */
  readonly predictionType?: PredictionType;
  /** Clamp x̂_0 to [−clipRange, clipRange] before the update (default true: images live in [−1, 1]). */
  readonly clipSample?: boolean;
  /** Bound used by clipSample (default 1). */
  readonly clipRange?: number;
  /** How `setTimesteps` spaces the chosen timesteps (default 'leading'). */
  readonly timestepSpacing?: TimestepSpacing;
}

/** n of T timesteps, descending, spaced as diffusers does it. */
export function spacedTimesteps(T: number, n: number, spacing: TimestepSpacing): number[] {
  if (!Number.isInteger(n) || n < 1 || n > T)
    throw new ValidationError(`Number of sampling steps must be an integer in [1, ${T}], got ${n}`);
  const out: number[] = [];
  if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    for (let k = n - 1; k >= 0; k--) out.push(k * ratio);
  } else if (spacing === 'trailing') {
    const ratio = T / n;
    for (let k = 0; k < n; k++) out.push(Math.round(T - k * ratio) - 1);
  } else if (spacing === 'linspace') {
    for (let k = n - 1; k >= 0; k--) out.push(n === 1 ? 0 : Math.round((k * (T - 1)) / (n - 1)));
  } else {
    throw new ValidationError(`Unknown timestep spacing '${String(spacing)}'`);
  }
  return out;
}

/** Timestep bookkeeping and option handling shared by the concrete samplers. */
export abstract class BaseSampler implements Sampler {
  abstract readonly kind: 'ddpm' | 'ddim' | 'dpm-solver++';
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  /** The x̂_0 clamp bound, or null for none. */
  readonly clip: number | null;
  readonly timestepSpacing: TimestepSpacing;
  private steps: number[];
  private readonly next = new Map<number, number>();

  protected constructor(schedule: NoiseSchedule, options: SamplerOptions) {
    this.schedule = schedule;
    this.predictionType = options.predictionType ?? 'epsilon';
    if (!['epsilon', 'v', 'sample'].includes(this.predictionType)) {
      throw new ValidationError(`Unknown prediction type '${this.predictionType}' (expected 'epsilon', 'v' or 'sample')`);
    }
    const range = options.clipRange ?? 1;
    if (!(range > 0)) throw new ValidationError(`clipRange must be > 0, got ${range}`);
    this.clip = (options.clipSample ?? true) ? range : null;
    this.timestepSpacing = options.timestepSpacing ?? 'leading';
    this.steps = [];
    this.setTimesteps(schedule.timesteps);
  }

  get timesteps(): readonly number[] {
    return this.steps;
  }

  setTimesteps(n: number): void {
    this.steps = spacedTimesteps(this.schedule.timesteps, n, this.timestepSpacing);
    this.next.clear();
    this.steps.forEach((t, i) => {
      this.next.set(t, this.steps[i + 1] ?? -1);
    });
  }

  previousTimestep(t: number): number {
    checkTimestep(this.schedule, t);
    const prev = this.next.get(t);
    if (prev === undefined) throw new ValidationError(`Timestep ${t} is not one of this sampler's ${this.steps.length} timesteps`);
    return prev;
  }

  /** ᾱ at t, with ᾱ_{−1} = 1 (the clean image). */
  protected alphaCumprodAt(t: number): number {
    return t < 0 ? 1 : (this.schedule.alphasCumprod[t] as number);
  }

  protected checkStepInputs(modelOutput: tf.Tensor, x: tf.Tensor): void {
    if (modelOutput.rank !== x.rank || modelOutput.shape.some((d, i) => d !== x.shape[i])) {
      throw new ValidationError(`Model output shape [${modelOutput.shape}] differs from sample shape [${x.shape}]`);
    }
  }

  abstract step(modelOutput: tf.Tensor, t: number, x: tf.Tensor, rng?: Rng): SamplerStepResult;
}

/** Throws unless a stochastic step was given a random source. */
export function requireRng(rng: Rng | undefined, who: string): Rng {
  if (!rng) throw new ValidationError(`${who} needs an Rng for its noise (pass one to step())`);
  return rng;
}

import { CapturedStep, type Rng, throwIfAborted, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { yieldToEventLoop } from './yield.js';

/** Maps a batch x [B, …] to per-sample energies [B] (or any shape with B elements). Lower = more likely. */
export type EnergyFunction = (x: tf.Tensor) => tf.Tensor;

/** Where the noise goes within one Langevin step. */
export type LangevinOrder = 'gradient-first' | 'noise-first';

/** Progress of one Langevin step, passed to `onStep` after the step. */
export interface LangevinStepInfo {
  /** 1-based index of the step just taken. */
  readonly step: number;
  readonly total: number;
  /** The samples after the step. Valid only during the callback: `clone()` it to keep it. */
  readonly x: tf.Tensor;
  /** Mean energy of the batch at the point where this step took its gradient. Valid only during the callback. */
  readonly meanEnergy: tf.Scalar;
}

export interface LangevinOptions {
  /** Number of steps (default 60). */
  readonly steps?: number;
  /** Gradient step size η (default 10). */
  readonly stepSize?: number;
  /** Standard deviation of the Gaussian noise added each step (default 0.005). */
  readonly noiseStd?: number;
  /** Clamp every gradient element to [−gradClip, gradClip] (default 0.03; null = no clipping). */
  readonly gradClip?: number | null;
  /** Clamp x to this range after every update (default [−1, 1]; null = no clamp). */
  readonly clampRange?: readonly [number, number] | null;
  /**
   * 'gradient-first' (default): x ← clamp(x − η·clip(∇E(x)) + σz), the unadjusted Langevin
   * algorithm. 'noise-first': x ← clamp(x + σz), then x ← clamp(x − η·clip(∇E(x))), the
   * exact order of IGEBM and the UvA deep-energy tutorial.
   */
  readonly order?: LangevinOrder;
  /** The source of all noise (same seed → same samples). */
  readonly rng: Rng;
  /** Record x every k steps: trajectory[0] = x0, trajectory[j] = x after j·k steps. */
  readonly trajectoryEvery?: number;
  /** Called after every step (awaited). */
  readonly onStep?: (info: LangevinStepInfo) => void | Promise<void>;
  /** Checked before every step; an abort rejects with CancelledError. */
  readonly signal?: AbortSignal;
}

export interface LangevinResult {
  /** The final samples, shaped like x0 (owned by the caller). */
  readonly samples: tf.Tensor;
  /** Snapshots when `trajectoryEvery` was given (owned by the caller). */
  readonly trajectory?: tf.Tensor[];
}

/**
 * The settings `langevin` uses for anything not given: the IGEBM / UvA deep-energy tutorial
 * values for images in [−1, 1] (per-pixel gradients of order 1e-3).
 */
export const LANGEVIN_DEFAULTS = Object.freeze({
  steps: 60,
  stepSize: 10,
  noiseStd: 0.005,
  gradClip: 0.03,
  clampRange: Object.freeze([-1, 1] as const),
});

interface ResolvedLangevin {
  steps: number;
  stepSize: number;
  noiseStd: number;
  gradClip: number | null;
  clampRange: readonly [number, number] | null;
  order: LangevinOrder;
  trajectoryEvery: number | undefined;
}

function resolveOptions(o: LangevinOptions): ResolvedLangevin {
  const r: ResolvedLangevin = {
    steps: o.steps ?? LANGEVIN_DEFAULTS.steps,
    stepSize: o.stepSize ?? LANGEVIN_DEFAULTS.stepSize,
    noiseStd: o.noiseStd ?? LANGEVIN_DEFAULTS.noiseStd,
    gradClip: o.gradClip === undefined ? LANGEVIN_DEFAULTS.gradClip : o.gradClip,
    clampRange: o.clampRange === undefined ? LANGEVIN_DEFAULTS.clampRange : o.clampRange,
    order: o.order ?? 'gradient-first',
    trajectoryEvery: o.trajectoryEvery,
  };
  if (!Number.isInteger(r.steps) || r.steps < 0) throw new ValidationError(`steps must be an integer ≥ 0, got ${r.steps}`);
  if (!(Number.isFinite(r.stepSize) && r.stepSize >= 0))
    throw new ValidationError(`stepSize must be a finite number ≥ 0, got ${r.stepSize}`);
  if (!(Number.isFinite(r.noiseStd) && r.noiseStd >= 0))
    throw new ValidationError(`noiseStd must be a finite number ≥ 0, got ${r.noiseStd}`);
  if (r.gradClip !== null && !(r.gradClip > 0)) throw new ValidationError(`gradClip must be > 0 or null, got ${r.gradClip}`);
  if (r.clampRange !== null && !(r.clampRange.length === 2 && r.clampRange[0] < r.clampRange[1])) {
    throw new ValidationError(`clampRange must be [min, max] with min < max, got [${r.clampRange}]`);
  }
  if (r.order !== 'gradient-first' && r.order !== 'noise-first') throw new ValidationError(`Unknown Langevin order '${String(r.order)}'`);
  if (r.trajectoryEvery !== undefined && !(Number.isInteger(r.trajectoryEvery) && r.trajectoryEvery >= 1)) {
    throw new ValidationError(`trajectoryEvery must be an integer ≥ 1, got ${r.trajectoryEvery}`);
  }
  return r;
}

/**
 * Langevin dynamics on any energy function: the gradient of Σ_i E(x_i) with respect to x
 * drives each sample downhill, Gaussian noise keeps it exploring. With no clipping and no
 * clamp and noiseStd = √(2·stepSize), the chain's stationary law tends to p(x) ∝ exp(−E(x))
 * as stepSize → 0. The defaults (60 steps, η = 10, σ = 0.005, gradient clamp 0.03, x in
 * [−1, 1]) are the IGEBM / UvA tutorial values, which trade that exactness for speed.
 *
 * x0 is not disposed. Each step runs in its own `tf.tidy`, as a `CapturedStep` (@lab/core): replayed
 * without tfjs's engine on a backend that records steps.
 */
export async function langevin(energyFn: EnergyFunction, x0: tf.Tensor, options: LangevinOptions): Promise<LangevinResult> {
  const o = resolveOptions(options);
  const rng = options.rng;
  if (x0.rank < 1) throw new ValidationError('x0 must have a batch axis');
  if (x0.dtype !== 'float32') throw new ValidationError(`x0 must be float32, got ${x0.dtype}`);
  const batch = x0.shape[0] as number;
  throwIfAborted(options.signal);

  // A shape error is raised after tf.valueAndGrad returns: throwing inside it would leak
  // the tensors its tape keeps for the backward pass.
  let badEnergyShape: number[] | undefined;
  const totalEnergy = (x: tf.Tensor): tf.Scalar => {
    const e = energyFn(x);
    if (e.size !== batch) badEnergyShape = e.shape;
    return tf.sum(e);
  };
  const valueAndGrad = tf.valueAndGrad(totalEnergy);
  const clamp = (x: tf.Tensor) => (o.clampRange ? tf.clipByValue(x, o.clampRange[0], o.clampRange[1]) : x);
  const addNoise = (x: tf.Tensor, z: tf.Tensor | undefined) => (z ? tf.add(x, tf.mul(z, o.noiseStd)) : x);
  const descend = (x: tf.Tensor) => {
    const { value, grad } = valueAndGrad(x);
    if (badEnergyShape) {
      throw new ValidationError(`Energy function returned shape [${badEnergyShape}]; expected one energy per sample (${batch})`);
    }
    const g = o.gradClip === null ? grad : tf.clipByValue(grad, -o.gradClip, o.gradClip);
    return { moved: tf.sub(x, tf.mul(g, o.stepSize)), meanEnergy: tf.div(value, batch) as tf.Scalar };
  };
  // One step of x with this step's standard normal draw z (none when noiseStd = 0): [next, meanEnergy].
  const step = ([x, z]: readonly tf.Tensor[]) =>
    tf.tidy(() => {
      if (o.order === 'noise-first') {
        const { moved, meanEnergy } = descend(clamp(addNoise(x as tf.Tensor, z)));
        return [clamp(moved), meanEnergy];
      }
      const { moved, meanEnergy } = descend(x as tf.Tensor);
      return [clamp(addNoise(moved, z)), meanEnergy];
    });
  // On a backend that records steps (torch), the steps after the first three replay one recording
  // without tfjs's engine; the noise is drawn outside the step, as its input (the draws and so the
  // samples are the same either way). Elsewhere every step runs as it is.
  const captured = new CapturedStep(step);

  let x = x0.clone();
  const trajectory: tf.Tensor[] | undefined = o.trajectoryEvery ? [x0.clone()] : undefined;
  try {
    for (let s = 1; s <= o.steps; s++) {
      throwIfAborted(options.signal);
      const current = x;
      const z = o.noiseStd > 0 ? rng.normal(current.shape) : undefined;
      let results: tf.Tensor[];
      try {
        results = captured.run(z ? [current, z] : [current]);
      } finally {
        z?.dispose();
      }
      const [next, meanEnergy] = results as [tf.Tensor, tf.Scalar];
      x = next;
      current.dispose();
      try {
        if (trajectory && s % (o.trajectoryEvery as number) === 0) trajectory.push(x.clone());
        if (options.onStep) await options.onStep({ step: s, total: o.steps, x, meanEnergy });
      } finally {
        meanEnergy.dispose();
      }
      await yieldToEventLoop();
    }
    throwIfAborted(options.signal);
    return trajectory ? { samples: x, trajectory } : { samples: x };
  } catch (error) {
    x.dispose();
    if (trajectory) tf.dispose(trajectory);
    throw error;
  } finally {
    captured.dispose();
  }
}

import { type Rng, throwIfAborted, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { yieldToEventLoop } from './yield.js';

/**
 * A noise-conditional energy: E(x, σ_level) per sample ([B]) for the noise level at index
 * `level` of the sampler's `sigmas`. Its negative gradient in x is the score of the data
 * blurred by Gaussian noise of std σ_level.
 */
export type NoiseConditionalEnergy = (x: tf.Tensor, level: number) => tf.Tensor;

/** Progress after one step of annealed Langevin dynamics. */
export interface AnnealedLangevinStepInfo {
  /** 1-based over all levels (the denoising step, when on, is the last). */
  readonly step: number;
  readonly total: number;
  /** Index into `sigmas` of the level this step sampled. */
  readonly level: number;
  /** The samples after the step. Valid only during the callback: `clone()` it to keep it. */
  readonly x: tf.Tensor;
}

export interface AnnealedLangevinOptions {
  /** Noise levels σ₁ > σ₂ > … > σ_L, the order they are visited in. */
  readonly sigmas: readonly number[];
  /**
   * Langevin steps at each level (default 10; with the ancestral predictor, the corrector's steps,
   * and 0 is allowed: ancestral sampling alone).
   */
  readonly stepsPerLevel?: number;
  /**
   * How the chain moves from one level to the next (default `none`):
   * - `none`: it does not; the Langevin steps at the lower level take the extra noise away (NCSN).
   * - `ancestral`: one reverse-diffusion step, a draw from the Gaussian posterior of the lower level
   *   with the clean image replaced by its Tweedie estimate:
   *   x ← x − (σᵢ² − σⱼ²)·∇ₓE(x, σᵢ) + (σⱼ/σᵢ)·√(σᵢ² − σⱼ²)·z
   *   (Song et al. 2021's predictor for the variance-exploding SDE; the Langevin steps are its corrector).
   *   It has no step size to tune, but needs σ₁ well above the data's scale (x0 ~ N(0, σ₁²)
   *   must be close to the blurred data: from σ₁ = 1 on CIFAR-10 it ends in grey images) and
   *   levels close enough together (it is exact only for data of zero variance).
   */
  readonly predictor?: 'none' | 'ancestral';
  /** ε: the step at level i is αᵢ = ε·σᵢ²/σ_L² (default 5e-5). */
  readonly stepSize?: number;
  /**
   * End with one Tweedie step x ← x − σ_L²·∇ₓE(x, σ_L), the posterior mean of the clean image
   * given the last noisy one (default true; it removes the σ_L noise the chain ends with).
   */
  readonly denoise?: boolean;
  /** Clamp the final samples to this range (default [−1, 1]; null = none). The chain itself is not clamped. */
  readonly clampRange?: readonly [number, number] | null;
  readonly rng: Rng;
  readonly onStep?: (info: AnnealedLangevinStepInfo) => void | Promise<void>;
  /** Checked before every step; an abort rejects with CancelledError. */
  readonly signal?: AbortSignal;
}

function validate(options: AnnealedLangevinOptions): { stepsPerLevel: number; stepSize: number; ancestral: boolean } {
  const { sigmas } = options;
  const stepsPerLevel = options.stepsPerLevel ?? 10;
  const predictor = options.predictor ?? 'none';
  if (predictor !== 'none' && predictor !== 'ancestral')
    throw new ValidationError(`predictor must be none or ancestral, got '${String(predictor)}'`);
  const ancestral = predictor === 'ancestral';
  const fewestSteps = ancestral ? 0 : 1;
  const stepSize = options.stepSize ?? 5e-5;
  if (sigmas.length === 0) throw new ValidationError('sigmas must list at least one noise level');
  sigmas.forEach((sigma, i) => {
    if (!(Number.isFinite(sigma) && sigma > 0)) throw new ValidationError(`sigmas[${i}] must be a finite number > 0, got ${sigma}`);
    if (i > 0 && !(sigma < (sigmas[i - 1] as number))) throw new ValidationError('sigmas must be strictly decreasing');
  });
  if (!(Number.isInteger(stepsPerLevel) && stepsPerLevel >= fewestSteps))
    throw new ValidationError(`stepsPerLevel must be an integer ≥ ${fewestSteps}, got ${stepsPerLevel}`);
  if (!(Number.isFinite(stepSize) && stepSize > 0)) throw new ValidationError(`stepSize must be a finite number > 0, got ${stepSize}`);
  const range = options.clampRange;
  if (range && !(range.length === 2 && range[0] < range[1])) throw new ValidationError(`clampRange must be [min, max] with min < max`);
  return { stepsPerLevel, stepSize, ancestral };
}

/**
 * Annealed Langevin dynamics (Song & Ermon 2019) on a noise-conditional energy: at each level
 * σᵢ, from the largest down, `stepsPerLevel` steps of x ← x − (αᵢ/2)·∇ₓE(x, σᵢ) + √αᵢ·z with
 * αᵢ = ε·σᵢ²/σ_L², so the step shrinks with the noise and the chain follows the data's
 * distribution as its blur is taken away; then, optionally, one denoising (Tweedie) step.
 * With `predictor: 'ancestral'` an ancestral step leads from each level to the next, and the
 * Langevin steps correct (predictor–corrector sampling).
 *
 * x0 (e.g. N(0, σ₁²) noise) is not disposed; the result is owned by the caller. Each step runs
 * in its own `tf.tidy`.
 */
export async function annealedLangevin(
  energy: NoiseConditionalEnergy,
  x0: tf.Tensor,
  options: AnnealedLangevinOptions,
): Promise<tf.Tensor> {
  const { stepsPerLevel, stepSize, ancestral } = validate(options);
  const { sigmas, rng } = options;
  if (x0.rank < 1) throw new ValidationError('x0 must have a batch axis');
  const batch = x0.shape[0] as number;
  const last = sigmas.length - 1;
  const sigmaMin = sigmas[last] as number;
  const denoise = options.denoise ?? true;
  const total = sigmas.length * stepsPerLevel + (ancestral ? last : 0) + (denoise ? 1 : 0);
  throwIfAborted(options.signal);

  // Shape errors are raised after tf.grad returns: throwing inside it would leak its tape.
  let badShape: number[] | undefined;
  const gradientAt = (level: number) =>
    tf.grad((x: tf.Tensor) => {
      const e = energy(x, level);
      if (e.size !== batch) badShape = e.shape;
      return tf.sum(e);
    });
  const checkShape = () => {
    if (badShape) throw new ValidationError(`The energy returned shape [${badShape}]; expected one energy per sample (${batch})`);
  };

  let x = x0.clone();
  let step = 0;
  const advance = async (next: tf.Tensor, level: number) => {
    x.dispose();
    x = next;
    step += 1;
    if (options.onStep) await options.onStep({ step, total, level, x });
    await yieldToEventLoop();
  };
  try {
    // The energy's gradient at the level just left: the ancestral step into the next one uses it.
    let previous: ReturnType<typeof gradientAt> | undefined;
    for (let level = 0; level <= last; level++) {
      const sigma = sigmas[level] as number;
      const alpha = stepSize * (sigma / sigmaMin) ** 2;
      const gradient = gradientAt(level);
      if (ancestral && previous) {
        throwIfAborted(options.signal);
        const from = sigmas[level - 1] as number;
        const drop = from ** 2 - sigma ** 2;
        const leaving = previous;
        const next = tf.tidy(() => {
          const g = leaving(x);
          checkShape();
          return tf.add(tf.sub(x, tf.mul(g, drop)), tf.mul(rng.normal(x.shape), (sigma / from) * Math.sqrt(drop)));
        });
        await advance(next, level);
      }
      for (let s = 0; s < stepsPerLevel; s++) {
        throwIfAborted(options.signal);
        const next = tf.tidy(() => {
          const g = gradient(x);
          checkShape();
          return tf.add(tf.sub(x, tf.mul(g, alpha / 2)), tf.mul(rng.normal(x.shape), Math.sqrt(alpha)));
        });
        await advance(next, level);
      }
      previous = gradient;
    }
    if (denoise) {
      throwIfAborted(options.signal);
      const gradient = previous ?? gradientAt(last);
      const next = tf.tidy(() => {
        const g = gradient(x);
        checkShape();
        return tf.sub(x, tf.mul(g, sigmaMin ** 2));
      });
      await advance(next, last);
    }
    throwIfAborted(options.signal);
    const range = options.clampRange === undefined ? ([-1, 1] as const) : options.clampRange;
    if (!range) return x;
    const clamped = tf.clipByValue(x, range[0], range[1]);
    x.dispose();
    return clamped;
  } catch (error) {
    x.dispose();
    throw error;
  }
}

/** σ₁ > … > σ_L spaced geometrically from `max` down to `min` (NCSN's noise levels). */
export function geometricSigmas(max: number, min: number, levels: number): number[] {
  if (!(Number.isFinite(max) && Number.isFinite(min) && min > 0 && max > min))
    throw new ValidationError(`noise levels need 0 < min < max, got min ${min}, max ${max}`);
  if (!(Number.isInteger(levels) && levels >= 2)) throw new ValidationError(`levels must be an integer ≥ 2, got ${levels}`);
  const ratio = (min / max) ** (1 / (levels - 1));
  return Array.from({ length: levels }, (_, i) => (i === levels - 1 ? min : max * ratio ** i));
}

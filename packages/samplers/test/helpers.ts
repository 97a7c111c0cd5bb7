import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../../testing/backend.js';
import { createSchedule, type NoiseSchedule } from '../src/index.js';

/** Tests run on the tfjs cpu backend (deterministic, available everywhere), or on torch (`npm run test:torch`). */
export async function useCpu(): Promise<void> {
  await useTestBackend();
}

/** Per-column mean and (population) variance of an [N, D] matrix given row-major. */
export function columnMoments(values: Float32Array | number[], columns: number): { mean: number[]; variance: number[] } {
  const n = values.length / columns;
  const mean = new Array<number>(columns).fill(0);
  const variance = new Array<number>(columns).fill(0);
  for (let i = 0; i < n; i++) for (let d = 0; d < columns; d++) mean[d] = (mean[d] as number) + (values[i * columns + d] as number) / n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < columns; d++)
      variance[d] = (variance[d] as number) + ((values[i * columns + d] as number) - (mean[d] as number)) ** 2 / n;
  }
  return { mean, variance };
}

/**
 * The exact ε-prediction E[ε | x_t] for data x0 ~ N(μ, diag σ²) (per last-axis channel):
 * x_t ~ N(√ᾱ μ, ᾱσ² + 1 − ᾱ), so E[ε | x_t] = √(1 − ᾱ)(x_t − √ᾱ μ) / (ᾱσ² + 1 − ᾱ).
 * Returns a denoiser for samples shaped [B, 1, 1, D].
 */
export function gaussianOracle(schedule: NoiseSchedule, mu: number[], sigma: number[]) {
  const abarTable = Float32Array.from(schedule.alphasCumprod);
  return (x: tf.Tensor4D, t: tf.Tensor1D): tf.Tensor4D =>
    tf.tidy(() => {
      const abar = tf.reshape(tf.gather(tf.tensor1d(abarTable), tf.cast(t, 'int32')), [-1, 1, 1, 1]);
      const m = tf.tensor1d(mu);
      const s2 = tf.square(tf.tensor1d(sigma));
      const num = tf.mul(tf.sqrt(tf.sub(1, abar)), tf.sub(x, tf.mul(tf.sqrt(abar), m)));
      const den = tf.add(tf.mul(abar, s2), tf.sub(1, abar));
      return tf.div(num, den) as tf.Tensor4D;
    });
}

export const linear1000 = () => createSchedule({ kind: 'linear' });

/**
 * Reference law of one coordinate after a reverse run with the Gaussian oracle, computed in
 * float64 straight from the textbook formulas (not from the package's step code): with
 * ε̂ = k(x − √ᾱ μ), x̂0 = (x − √(1−ᾱ) ε̂)/√ᾱ, each step is x' = a·x + b + s·z, so the mean and
 * variance follow m' = a·m + b, v' = a²·v + s², starting from x_T ~ N(0, 1).
 */
export function referenceReverseLaw(
  schedule: NoiseSchedule,
  timesteps: readonly number[],
  mu: number,
  sigma: number,
  update: 'ddpm-small' | 'ddpm-large' | { eta: number },
): { mean: number; variance: number } {
  let m = 0;
  let v = 1;
  const abar = (t: number) => (t < 0 ? 1 : (schedule.alphasCumprod[t] as number));
  timesteps.forEach((t, i) => {
    const prev = timesteps[i + 1] ?? -1;
    const at = abar(t);
    const ap = abar(prev);
    const k = Math.sqrt(1 - at) / (at * sigma * sigma + 1 - at);
    // ε̂ = ke·x + kb ; x̂0 = xa·x + xb
    const ke = k;
    const kb = -k * Math.sqrt(at) * mu;
    const xa = (1 - Math.sqrt(1 - at) * ke) / Math.sqrt(at);
    const xb = (-Math.sqrt(1 - at) * kb) / Math.sqrt(at);
    let a: number;
    let b: number;
    let s2: number;
    if (update === 'ddpm-small' || update === 'ddpm-large') {
      // Bayes: q(x_prev | x_t, x0) with the one-jump variance β' = 1 − ᾱ_t/ᾱ_prev.
      const beta = 1 - at / ap;
      const precision = (1 - beta) / beta + 1 / (1 - ap);
      const postVar = prev < 0 ? 0 : 1 / precision;
      const cx = prev < 0 ? 1 / Math.sqrt(1 - beta) : (postVar * Math.sqrt(1 - beta)) / beta; // coefficient of x_t
      const c0 = prev < 0 ? 0 : (postVar * Math.sqrt(ap)) / (1 - ap); // coefficient of x0
      // At the last jump (prev = −1) the posterior is a point mass at x0.
      a = prev < 0 ? xa : c0 * xa + cx;
      b = prev < 0 ? xb : c0 * xb;
      s2 = prev < 0 ? 0 : update === 'ddpm-small' ? postVar : beta;
    } else {
      const sig = update.eta * Math.sqrt((1 - ap) / (1 - at)) * Math.sqrt(1 - at / ap);
      const d = Math.sqrt(1 - ap - sig * sig);
      a = Math.sqrt(ap) * xa + d * ke;
      b = Math.sqrt(ap) * xb + d * kb;
      s2 = sig * sig;
    }
    m = a * m + b;
    v = a * a * v + s2;
  });
  return { mean: m, variance: v };
}

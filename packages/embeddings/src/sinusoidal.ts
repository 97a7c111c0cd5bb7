import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/** How the frequencies are spaced: see {@link sinusoidalEmbedding}. */
export type SinusoidalConvention = 'transformer' | 'ddpm';
/** Which half comes first in the output vector. */
export type SinusoidalOrder = 'sin-cos' | 'cos-sin';

export interface SinusoidalOptions {
  /** The longest wavelength, in timesteps (default 10000). */
  maxPeriod?: number;
  /** Frequency spacing (default `'transformer'`). */
  convention?: SinusoidalConvention;
  /** Output order (default `'sin-cos'`). */
  order?: SinusoidalOrder;
}

/**
 * The `half` frequencies of the sinusoidal embedding, in float64.
 *
 * - `transformer` (Vaswani et al.): `freq_i = maxPeriod^(−i/half)`, i = 0 … half−1,
 *   so the slowest frequency is `maxPeriod^(−(half−1)/half)`.
 * - `ddpm` (Ho et al., tensor2tensor): `freq_i = exp(−ln(maxPeriod) · i/(half−1))`,
 *   so the slowest frequency is exactly `1/maxPeriod`. Needs half ≥ 2.
 */
export function sinusoidalFrequencies(dim: number, options: SinusoidalOptions = {}): Float64Array {
  const { maxPeriod = 10000, convention = 'transformer' } = options;
  if (!Number.isInteger(dim) || dim < 2) throw new ValidationError(`embedding dim must be an integer ≥ 2, got ${dim}`);
  if (!(maxPeriod > 1) || !Number.isFinite(maxPeriod)) throw new ValidationError(`maxPeriod must be a finite number > 1, got ${maxPeriod}`);
  if (convention !== 'transformer' && convention !== 'ddpm') throw new ValidationError(`unknown convention '${String(convention)}'`);
  const half = Math.floor(dim / 2);
  if (convention === 'ddpm' && half < 2) throw new ValidationError(`the ddpm convention needs dim ≥ 4, got ${dim}`);
  const denominator = convention === 'ddpm' ? half - 1 : half;
  const freqs = new Float64Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / denominator);
  return freqs;
}

/**
 * Sinusoidal embedding of a batch of (integer or real) timesteps `t` → `[B, dim]`.
 *
 * With `half = ⌊dim/2⌋` and the frequencies `freq_i` of {@link sinusoidalFrequencies}:
 *
 *     emb(t) = [sin(t·freq_0), …, sin(t·freq_{half−1}), cos(t·freq_0), …, cos(t·freq_{half−1})]   ('sin-cos')
 *     emb(t) = [cos(t·freq_0), …, cos(t·freq_{half−1}), sin(t·freq_0), …, sin(t·freq_{half−1})]   ('cos-sin')
 *
 * An odd `dim` gets one trailing zero column. For example dim 8, t = 1, maxPeriod 10000,
 * transformer, sin-cos: `[sin 1, sin 0.1, sin 0.01, sin 0.001, cos 1, cos 0.1, cos 0.01, cos 0.001]`.
 * Ho et al.'s DDPM uses `{convention: 'ddpm', order: 'sin-cos'}`.
 */
export function sinusoidalEmbedding(t: tf.Tensor1D, dim: number, options: SinusoidalOptions = {}): tf.Tensor2D {
  if (t.rank !== 1) throw new ValidationError(`timesteps must be a 1-D tensor [B], got shape [${t.shape.join(', ')}]`);
  const { order = 'sin-cos' } = options;
  if (order !== 'sin-cos' && order !== 'cos-sin') throw new ValidationError(`unknown order '${String(order)}'`);
  const freqs = sinusoidalFrequencies(dim, options);
  return tf.tidy(() => {
    // Outer product t ⊗ freq as a [B,1]·[1,half] matMul (maps to XNNPACK on wasm).
    const args = tf.matMul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(Float32Array.from(freqs), [1, freqs.length]));
    const sin = tf.sin(args);
    const cos = tf.cos(args);
    const parts = order === 'sin-cos' ? [sin, cos] : [cos, sin];
    if (dim % 2 === 1) parts.push(tf.zeros([t.shape[0], 1]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  });
}

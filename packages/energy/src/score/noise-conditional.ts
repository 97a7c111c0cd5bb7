import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { inferEnergyMode, modelEnergies, numClassesOf } from '../energy-function.js';

/** Noise levels as a tensor-free list, largest first (e.g. `geometricSigmas` of `@lab/samplers`). */
export type NoiseLevels = readonly number[];

/**
 * E(x, σᵢ) per sample, for a level index i (one for the batch) or an int32 tensor [B] of them.
 * Differentiable in x and in the weights (twice: score matching differentiates its gradient).
 */
export type NoiseConditionalEnergyFn = (x: tf.Tensor, level: number | tf.Tensor1D) => tf.Tensor1D;

export interface NoiseConditionalEnergyOptions {
  /**
   * Std s of the Gaussian base energy ‖x‖²/2(s² + σ²) (default 0.5, about CIFAR-10's pixel std in
   * [−1, 1]; 0 = no base).
   */
  readonly dataStd?: number;
}

/**
 * A noise-conditional energy from a `conditional` energy net with one label per noise level:
 *   E(x, σᵢ) = ‖x‖² / 2(s² + σᵢ²) + E_θ(x, i) / σᵢ.
 * The first term is the exact energy of N(0, s²) data blurred by σᵢ, so an untrained net already
 * denoises like a Wiener filter and the network learns only what images have beyond a Gaussian
 * (the energy form of a diffusion model's skip connection: a scalar net cannot easily build
 * ‖x‖² itself). The label picks a per-level projection of shared features; the 1/σ keeps
 * σ·∇ₓE_θ/σ of unit scale at every level, as NCSNv2 does for score networks.
 */
export function noiseConditionalEnergy(
  model: tfl.LayersModel,
  sigmas: NoiseLevels,
  options: NoiseConditionalEnergyOptions = {},
): NoiseConditionalEnergyFn {
  const dataStd = options.dataStd ?? 0.5;
  if (!(Number.isFinite(dataStd) && dataStd >= 0)) throw new ValidationError(`dataStd must be a finite number ≥ 0, got ${dataStd}`);
  if (inferEnergyMode(model) !== 'conditional')
    throw new ValidationError('a noise-conditional energy needs a conditional energy net (inputs [x, level])');
  const levels = numClassesOf(model, 'conditional');
  if (levels !== sigmas.length) throw new ValidationError(`the net has ${levels} levels, but ${sigmas.length} noise levels were given`);
  if (sigmas.some((s) => !(Number.isFinite(s) && s > 0))) throw new ValidationError('noise levels must be finite and > 0');
  const variances = sigmas.map((sigma) => dataStd ** 2 + sigma ** 2);
  return (x, level) =>
    tf.tidy(() => {
      const batch = x.shape[0] as number;
      if (typeof level === 'number' && !(Number.isInteger(level) && level >= 0 && level < sigmas.length))
        throw new ValidationError(`noise level must be an integer in [0, ${sigmas.length}), got ${level}`);
      const { energies } = modelEnergies(model, x, { mode: 'conditional', classLabel: level });
      const perLevel = (values: readonly number[]) =>
        typeof level === 'number' ? tf.scalar(values[level] as number) : tf.gather(tf.tensor1d(values as number[]), level);
      const squaredNorm = tf.sum(tf.reshape(tf.square(x), [batch, -1]), 1);
      const base = dataStd > 0 ? tf.div(squaredNorm, tf.mul(perLevel(variances), 2)) : tf.zerosLike(squaredNorm);
      return tf.add(base, tf.div(energies, perLevel(sigmas))) as tf.Tensor1D;
    });
}

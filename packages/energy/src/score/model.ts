import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createEnergyNet } from '../energy-net/create.js';
import { noiseLevelsOf, type ScoreEnergyConfig } from './config.js';
import { type NoiseConditionalEnergyFn, noiseConditionalEnergy } from './noise-conditional.js';
import { createUNetEnergyNet, unetEnergy } from './unet-energy.js';

/** A fresh network for a score-matching energy model's body (an energy net or a UNet). */
export function createScoreEnergyNet(config: ScoreEnergyConfig): tfl.LayersModel {
  return config.net.architecture === 'unet' ? createUNetEnergyNet(config.net) : createEnergyNet(config.net);
}

/** The noise-conditional energy E(x, σᵢ) of a score-matching model: the one place its form is chosen. */
export function scoreEnergyOf(model: tfl.LayersModel, config: ScoreEnergyConfig): NoiseConditionalEnergyFn {
  const sigmas = noiseLevelsOf(config);
  return config.net.architecture === 'unet'
    ? unetEnergy(model, sigmas, config.net)
    : noiseConditionalEnergy(model, sigmas, { dataStd: config.dataStd });
}

/** The energy a score-matching model serves and scores with: E(x, σ_min), its least blurred level. */
export function servedEnergy(model: tfl.LayersModel, config: ScoreEnergyConfig): (x: tf.Tensor) => tf.Tensor1D {
  const energy = scoreEnergyOf(model, config);
  const last = config.noise.levels - 1;
  return (x) => energy(x, last);
}

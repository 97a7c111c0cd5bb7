/**
 * @lab/energy: energy networks (UvA-tutorial CNN, IGEBM-style ResNet, MLP; optional spectral
 * norm; class-conditional and JEM modes), the contrastive-divergence loss, the replay buffer,
 * and one-step CD training. Pure TensorFlow.js. Importing it registers the custom layers for
 * `tf.loadLayersModel`. The API plugin is at `@lab/energy/plugin`; the CIFAR-10 classifier is
 * `@lab/classifier`.
 */

export type {
  ContrastiveEnergyConfig,
  ContrastiveEnergyConfigOptions,
  LangevinSettings,
  ReplaySettings,
} from './contrastive/config.js';
export {
  CONTRASTIVE_ENERGY_CONFIG_VERSION,
  CONTRASTIVE_ENERGY_DEFAULTS,
  isContrastiveEnergyConfig,
  parseContrastiveEnergyConfig,
  resolveContrastiveEnergyConfig,
} from './contrastive/config.js';
export type { ContrastiveEnergySampleOptions } from './contrastive/sample.js';
export { sampleContrastiveEnergy } from './contrastive/sample.js';
export type { ClassLabels, EnergyFunctionOptions, ModelEnergies } from './energy-function.js';
export { energyFunction, inferEnergyMode, modelEnergies } from './energy-function.js';
export type { EnergyArchitecture, EnergyMode, EnergyNetConfig, EnergyNetOptions, EnergyNetPreset } from './energy-net/config.js';
export { ENERGY_NET_PRESETS, resolveEnergyNetConfig } from './energy-net/config.js';
export { createEnergyNet } from './energy-net/create.js';
export { Silu } from './layers/silu.js';
export type { SpectralConv2DArgs, SpectralDenseArgs } from './layers/spectral-norm.js';
export { powerIteration, SpectralConv2D, SpectralDense, spectralNormEstimate } from './layers/spectral-norm.js';
export type { EnergyModelConfig } from './model-config.js';
export { parseEnergyConfig } from './model-config.js';
export type {
  AnnealedSamplingSettings,
  NoiseLevelSettings,
  ScoreEnergyConfig,
  ScoreEnergyConfigOptions,
  ScoreEnergySampler,
  ScoreEnergyUNetPreset,
} from './score/config.js';
export {
  defaultSamplingSteps,
  isScoreEnergyConfig,
  noiseLevelsOf,
  parseScoreEnergyConfig,
  resolveScoreEnergyConfig,
  SCORE_ENERGY_CONFIG_VERSION,
  SCORE_ENERGY_DEFAULTS,
  SCORE_ENERGY_SAMPLERS,
  SCORE_ENERGY_UNET_PRESETS,
  SCORE_MATCHING_OBJECTIVE,
} from './score/config.js';
export type { ScoreMatchingLoss } from './score/dsm-loss.js';
export { denoisingScoreMatchingLoss } from './score/dsm-loss.js';
export { createScoreEnergyNet, scoreEnergyOf, servedEnergy } from './score/model.js';
export type { NoiseConditionalEnergyFn, NoiseConditionalEnergyOptions, NoiseLevels } from './score/noise-conditional.js';
export { noiseConditionalEnergy } from './score/noise-conditional.js';
export type { ScoreEnergySampleOptions } from './score/sample.js';
export { sampleScoreEnergy } from './score/sample.js';
export type { UNetEnergyNetConfig, UNetEnergyNetOptions } from './score/unet-energy.js';
export { resolveUNetEnergyNetConfig, unetEnergy, unetEnergyNetFromDiffusion } from './score/unet-energy.js';
export type { ContrastiveDivergenceLoss } from './training/cd-loss.js';
export { contrastiveDivergenceLoss } from './training/cd-loss.js';
export type { LangevinSampler, NegativePhaseOptions, NegativeSamples, SampleNegativesOptions } from './training/negative-phase.js';
export { sampleNegatives } from './training/negative-phase.js';
export type { ReplayBatch, ReplayBufferMeta, ReplayBufferOptions, SerializedReplayBuffer } from './training/replay-buffer.js';
export { ReplayBuffer } from './training/replay-buffer.js';
export type { EnergyTrainStepOptions, EnergyTrainStepResult } from './training/train-step.js';
export { trainEnergyStep } from './training/train-step.js';

/**
 * @lab/samplers: noise schedules, the forward process and its losses, DDPM and DDIM reverse
 * samplers with a sampling pipeline (guidance, inpainting, progress, cancellation), and
 * Langevin dynamics for energy-based models. Pure TensorFlow.js; holds no weights.
 */

export type { AnnealedLangevinOptions, AnnealedLangevinStepInfo, NoiseConditionalEnergy } from './annealed-langevin.js';
export { annealedLangevin, geometricSigmas } from './annealed-langevin.js';
export type { DDIMSamplerOptions } from './ddim.js';
export { DDIMSampler } from './ddim.js';
export type { DDPMSamplerOptions, DDPMStepCoefficients, DDPMVarianceType } from './ddpm.js';
export { DDPMSampler, ddpmStepCoefficients } from './ddpm.js';
export { DPMSolverMultistepSampler } from './dpm-solver.js';
export type { SamplerSpec } from './factory.js';
export { createSampler } from './factory.js';
export type { Prediction, PredictionType } from './forward.js';
export { addNoise, epsilonLoss, modelOutputFromX0, splitPrediction, velocityTarget } from './forward.js';
export type { GuidanceRescale } from './guidance.js';
export { checkGuidanceRescale, rescaleGuidedOutput } from './guidance.js';
export type { EnergyFunction, LangevinOptions, LangevinOrder, LangevinResult, LangevinStepInfo } from './langevin.js';
export { LANGEVIN_DEFAULTS, langevin } from './langevin.js';
export type { DiffusionStepInfo, InpaintOptions, SampleDiffusionOptions } from './pipeline.js';
export { guidedModelOutput, sampleDiffusion } from './pipeline.js';
export type { Denoiser, Sampler, SamplerOptions, SamplerStepResult, TimestepSpacing } from './sampler.js';
export { spacedTimesteps } from './sampler.js';
export type { NoiseSchedule, ScheduleKind, ScheduleOptions } from './schedule.js';
export { checkTimestep, createSchedule, scheduleFromBetas, timestepAtSigma } from './schedule.js';

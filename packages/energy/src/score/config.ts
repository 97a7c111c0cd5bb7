import { ValidationError } from '@lab/core';
import { geometricSigmas } from '@lab/samplers';
import { type EnergyNetConfig, type EnergyNetOptions, type EnergyNetPreset, resolveEnergyNetConfig } from '../energy-net/config.js';
import { isUNetEnergyNet, resolveUNetEnergyNetConfig, type UNetEnergyNetConfig, type UNetEnergyNetOptions } from './unet-energy.js';

/** The `objective` of an energy model trained by denoising score matching (absent or `cd`: contrastive divergence). */
export const SCORE_MATCHING_OBJECTIVE = 'dsm';

/** The version of {@link ScoreEnergyConfig} this release writes and reads (a config without one is version 1). */
export const SCORE_ENERGY_CONFIG_VERSION = 1;

/** Geometric noise levels from `max` down to `min`. */
export interface NoiseLevelSettings {
  readonly max: number;
  readonly min: number;
  readonly levels: number;
}

/** The ways a score-matching energy is sampled, all from N(0, σ_max²) down its noise levels. */
export const SCORE_ENERGY_SAMPLERS = ['langevin', 'ancestral'] as const;

/**
 * - `langevin`: annealed Langevin dynamics (NCSN): `stepsPerLevel` Langevin steps at each level.
 * - `ancestral`: one ancestral (reverse-diffusion) step from each level to the next, with
 *   `correctorSteps` Langevin steps at each level (predictor–corrector); it needs σ_max well
 *   above the data's scale.
 */
export type ScoreEnergySampler = (typeof SCORE_ENERGY_SAMPLERS)[number];

/** `value` as a sampler name, or a ValidationError naming `what` and the choices. */
export function checkScoreEnergySampler(value: unknown, what: string): ScoreEnergySampler {
  if (!(SCORE_ENERGY_SAMPLERS as readonly unknown[]).includes(value))
    throw new ValidationError(`${what} must be ${SCORE_ENERGY_SAMPLERS.join(' or ')}, got '${String(value)}'`);
  return value as ScoreEnergySampler;
}

/** How the model is sampled by default, and each sampler's settings (ε is the Langevin step at the last level). */
export interface AnnealedSamplingSettings {
  /** The default sampler (configs stored before there was a choice: `langevin`). */
  readonly sampler: ScoreEnergySampler;
  /** `langevin`: steps at each level (≥ 1). */
  readonly stepsPerLevel: number;
  /** `ancestral`: Langevin corrector steps at each level (≥ 0). */
  readonly correctorSteps: number;
  readonly stepSize: number;
  /**
   * Gradient evaluations a sample of the default sampler takes unless a request says otherwise
   * (absent: every level, with the settings above; see `defaultSamplingSteps`).
   */
  readonly steps?: number;
}

/** A score-matching energy model's configuration, as the trainer stores it in run.json and the manifest. */
export interface ScoreEnergyConfig {
  readonly version: typeof SCORE_ENERGY_CONFIG_VERSION;
  readonly objective: typeof SCORE_MATCHING_OBJECTIVE;
  /**
   * The body: an energy net made conditional on the noise level (one label per level; see
   * `noiseConditionalEnergy`), or a diffusion UNet (`architecture: 'unet'`; see `unetEnergy`).
   */
  readonly net: EnergyNetConfig | UNetEnergyNetConfig;
  readonly noise: NoiseLevelSettings;
  /** Std of the Gaussian base energy of an energy-net body (see `noiseConditionalEnergy`; a UNet body has none). */
  readonly dataStd: number;
  readonly sampling: AnnealedSamplingSettings;
}

export interface ScoreEnergyConfigOptions {
  /** A stored config's version (default: this release's). */
  readonly version?: number;
  /**
   * The body (default `small`): an energy-net preset or overrides, made conditional on the noise
   * level; or a UNet (`unet-tiny`, `unet-small`, or `{ architecture: 'unet', … }`).
   */
  readonly net?: EnergyNetOptions | EnergyNetPreset | ScoreEnergyUNetPreset | UNetEnergyNetOptions;
  /** Noise levels (default σ from 1 to 0.01, 10 levels; a UNet body: 80 to 0.01, 100 levels). */
  readonly noise?: Partial<NoiseLevelSettings>;
  /** Default 0.5, about CIFAR-10's pixel std in [−1, 1]. */
  readonly dataStd?: number;
  /**
   * Default: Langevin (a UNet body: ancestral), 10 steps per level, ε = 5e-5 (the ancestral
   * sampler: no corrector steps).
   */
  readonly sampling?: Partial<AnnealedSamplingSettings>;
}

export const SCORE_ENERGY_DEFAULTS = {
  noise: { max: 1, min: 0.01, levels: 10 },
  dataStd: 0.5,
  sampling: { sampler: 'langevin', stepsPerLevel: 10, correctorSteps: 0, stepSize: 5e-5 },
} as const;

/**
 * A UNet body's defaults differ: the bundled energy's recipe, σ 80 → 0.01 over 100 levels, sampled
 * by the ancestral sampler (which needs σ_max well above the data's scale; docs/results.md). A
 * stored config names all of these, so the defaults only shape new ones.
 */
const UNET_SCORE_ENERGY_DEFAULTS = {
  noise: { max: 80, min: 0.01, levels: 100 },
  sampling: { ...SCORE_ENERGY_DEFAULTS.sampling, sampler: 'ancestral' },
} as const;

/** The UNet bodies by name: a UNet energy with the `tiny` or `small` UNet preset. */
export const SCORE_ENERGY_UNET_PRESETS = ['unet-tiny', 'unet-small'] as const;
export type ScoreEnergyUNetPreset = (typeof SCORE_ENERGY_UNET_PRESETS)[number];

function isUNetBody(net: ScoreEnergyConfigOptions['net']): boolean {
  return (SCORE_ENERGY_UNET_PRESETS as readonly unknown[]).includes(net) || isUNetEnergyNet(net);
}

function resolveScoreEnergyNet(net: ScoreEnergyConfigOptions['net'], levels: number): EnergyNetConfig | UNetEnergyNetConfig {
  if ((SCORE_ENERGY_UNET_PRESETS as readonly unknown[]).includes(net))
    return resolveUNetEnergyNetConfig({ architecture: 'unet', unet: (net as ScoreEnergyUNetPreset).slice('unet-'.length) as 'tiny' });
  if (isUNetEnergyNet(net)) return resolveUNetEnergyNetConfig(net);
  const body: EnergyNetOptions = typeof net === 'string' || net === undefined ? { preset: (net as EnergyNetPreset) ?? 'small' } : net;
  return resolveEnergyNetConfig({ ...body, mode: 'conditional', numClasses: levels });
}

/** Fills defaults and validates; a stored config passes through unchanged. ValidationError names the bad field. */
export function resolveScoreEnergyConfig(options: ScoreEnergyConfigOptions = {}): ScoreEnergyConfig {
  const version = options.version ?? SCORE_ENERGY_CONFIG_VERSION;
  if (version !== SCORE_ENERGY_CONFIG_VERSION)
    throw new ValidationError(
      `score-matching energy config: version ${JSON.stringify(version)} is not supported (this release reads version ${SCORE_ENERGY_CONFIG_VERSION})`,
      { details: { field: 'version' } },
    );
  const defaults = isUNetBody(options.net) ? UNET_SCORE_ENERGY_DEFAULTS : SCORE_ENERGY_DEFAULTS;
  const noise = { ...defaults.noise, ...options.noise };
  geometricSigmas(noise.max, noise.min, noise.levels); // validates the levels
  const net = resolveScoreEnergyNet(options.net, noise.levels);
  const dataStd = options.dataStd ?? SCORE_ENERGY_DEFAULTS.dataStd;
  if (!(Number.isFinite(dataStd) && dataStd >= 0)) throw new ValidationError(`dataStd must be a finite number ≥ 0, got ${dataStd}`);
  const sampling: AnnealedSamplingSettings = { ...defaults.sampling, ...options.sampling };
  checkScoreEnergySampler(sampling.sampler, 'sampling.sampler');
  if (!(Number.isInteger(sampling.correctorSteps) && sampling.correctorSteps >= 0))
    throw new ValidationError(`sampling.correctorSteps must be an integer ≥ 0, got ${sampling.correctorSteps}`);
  if (!(Number.isInteger(sampling.stepsPerLevel) && sampling.stepsPerLevel >= 1))
    throw new ValidationError(`sampling.stepsPerLevel must be an integer ≥ 1, got ${sampling.stepsPerLevel}`);
  if (!(Number.isFinite(sampling.stepSize) && sampling.stepSize > 0))
    throw new ValidationError(`sampling.stepSize must be a finite number > 0, got ${sampling.stepSize}`);
  if (sampling.steps !== undefined && !(Number.isInteger(sampling.steps) && sampling.steps >= 1))
    throw new ValidationError(`sampling.steps must be an integer ≥ 1, got ${sampling.steps}`);
  return { version: SCORE_ENERGY_CONFIG_VERSION, objective: SCORE_MATCHING_OBJECTIVE, net, noise, dataStd, sampling };
}

/** True for the config of an energy model trained by score matching. */
export function isScoreEnergyConfig(config: Record<string, unknown>): boolean {
  return config.objective === SCORE_MATCHING_OBJECTIVE;
}

/** Parses a stored config (run.json, manifest) of a score-matching energy model. */
export function parseScoreEnergyConfig(config: Record<string, unknown>): ScoreEnergyConfig {
  if (!isScoreEnergyConfig(config))
    throw new ValidationError(`not a score-matching energy config (objective: ${String(config.objective)})`);
  return resolveScoreEnergyConfig(config as ScoreEnergyConfigOptions);
}

/** The noise levels σ₁ > … > σ_L of a config. */
export function noiseLevelsOf(config: ScoreEnergyConfig): number[] {
  return geometricSigmas(config.noise.max, config.noise.min, config.noise.levels);
}

/**
 * Gradient evaluations of one sample by `sampler` at the config's settings (the final Tweedie
 * step not counted): what a request's `steps` means for these models. The default sampler takes
 * `sampling.steps` where the config names it.
 */
export function defaultSamplingSteps(config: ScoreEnergyConfig, sampler: ScoreEnergySampler = config.sampling.sampler): number {
  if (sampler === config.sampling.sampler && config.sampling.steps !== undefined) return config.sampling.steps;
  const { levels } = config.noise;
  return sampler === 'ancestral' ? levels - 1 + levels * config.sampling.correctorSteps : levels * config.sampling.stepsPerLevel;
}

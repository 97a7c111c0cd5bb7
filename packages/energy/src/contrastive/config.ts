import { ValidationError } from '@lab/core';
import { LANGEVIN_DEFAULTS } from '@lab/samplers';
import { type EnergyNetConfig, type EnergyNetOptions, type EnergyNetPreset, resolveEnergyNetConfig } from '../energy-net/config.js';

/** The version of {@link ContrastiveEnergyConfig} this release writes and reads (a config without one is version 1). */
export const CONTRASTIVE_ENERGY_CONFIG_VERSION = 1;

/** Langevin dynamics on E: the training negatives' chains (`steps`) and the sampler's step rule. */
export interface LangevinSettings {
  readonly steps: number;
  readonly stepSize: number;
  readonly noiseStd: number;
  readonly gradClip: number;
}

/** The replay buffer of persistent Langevin chains. */
export interface ReplaySettings {
  readonly capacity: number;
  readonly reinitProbability: number;
}

/**
 * An energy model trained by contrastive divergence (an unconditional or JEM energy net), as the
 * trainer stores it in run.json and the checkpoint manifest's `config`.
 */
export interface ContrastiveEnergyConfig {
  readonly version: typeof CONTRASTIVE_ENERGY_CONFIG_VERSION;
  readonly net: EnergyNetConfig;
  /** Weight of the energy-magnitude regulariser. */
  readonly alpha: number;
  /** Std of the Gaussian noise added to real images. */
  readonly dataNoise: number;
  readonly langevin: LangevinSettings;
  /** Langevin steps from uniform noise for samples (previews, evaluation, the API's default). */
  readonly sampleSteps: number;
  readonly replay: ReplaySettings;
  /** JEM models: the name of each class (default: CIFAR-10's when the net has 10 classes). */
  readonly classNames?: readonly string[];
}

export interface ContrastiveEnergyConfigOptions {
  readonly version?: number;
  /** An energy-net preset or overrides (default `small`); `energy` or `jem` mode. */
  readonly net?: EnergyNetOptions | EnergyNetPreset;
  readonly alpha?: number;
  readonly dataNoise?: number;
  /** Defaults: `LANGEVIN_DEFAULTS` of @lab/samplers. */
  readonly langevin?: Partial<LangevinSettings>;
  readonly sampleSteps?: number;
  readonly replay?: Partial<ReplaySettings>;
  readonly classNames?: readonly string[];
}

export const CONTRASTIVE_ENERGY_DEFAULTS = {
  net: 'small',
  alpha: 0.1,
  dataNoise: 0.005,
  sampleSteps: 256,
  replay: { capacity: 8192, reinitProbability: 0.05 },
} as const;

const fail = (field: string, why: string): never => {
  throw new ValidationError(`energy config: ${field} ${why}`, { details: { field } });
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Fills defaults and validates; a resolved config passes through unchanged. ValidationError names the bad field. */
export function resolveContrastiveEnergyConfig(options: ContrastiveEnergyConfigOptions = {}): ContrastiveEnergyConfig {
  const version = options.version ?? CONTRASTIVE_ENERGY_CONFIG_VERSION;
  if (version !== CONTRASTIVE_ENERGY_CONFIG_VERSION)
    fail('version', `${JSON.stringify(version)} is not supported (this release reads version ${CONTRASTIVE_ENERGY_CONFIG_VERSION})`);
  let net: EnergyNetConfig;
  try {
    net = resolveEnergyNetConfig(options.net ?? CONTRASTIVE_ENERGY_DEFAULTS.net);
  } catch (error) {
    throw new ValidationError(`energy config: net: ${(error as Error).message}`, { cause: error, details: { field: 'net' } });
  }
  if (net.mode === 'conditional') fail('net.mode', 'must be energy or jem: contrastive divergence trains no conditional nets');
  const alpha = options.alpha ?? CONTRASTIVE_ENERGY_DEFAULTS.alpha;
  if (!(Number.isFinite(alpha) && alpha >= 0)) fail('alpha', `must be a finite number ≥ 0, got ${JSON.stringify(alpha)}`);
  const dataNoise = options.dataNoise ?? CONTRASTIVE_ENERGY_DEFAULTS.dataNoise;
  if (!(Number.isFinite(dataNoise) && dataNoise >= 0)) fail('dataNoise', `must be a finite number ≥ 0, got ${JSON.stringify(dataNoise)}`);
  const { steps, stepSize, noiseStd, gradClip } = LANGEVIN_DEFAULTS;
  const langevin = { steps, stepSize, noiseStd, gradClip, ...options.langevin };
  if (!(Number.isInteger(langevin.steps) && langevin.steps >= 1))
    fail('langevin.steps', `must be an integer ≥ 1, got ${JSON.stringify(langevin.steps)}`);
  for (const field of ['stepSize', 'noiseStd', 'gradClip'] as const)
    if (!(Number.isFinite(langevin[field]) && langevin[field] >= 0))
      fail(`langevin.${field}`, `must be a finite number ≥ 0, got ${JSON.stringify(langevin[field])}`);
  const sampleSteps = options.sampleSteps ?? CONTRASTIVE_ENERGY_DEFAULTS.sampleSteps;
  if (!(Number.isInteger(sampleSteps) && sampleSteps >= 1))
    fail('sampleSteps', `must be an integer ≥ 1, got ${JSON.stringify(sampleSteps)}`);
  const replay = { ...CONTRASTIVE_ENERGY_DEFAULTS.replay, ...options.replay };
  if (!(Number.isInteger(replay.capacity) && replay.capacity >= 1))
    fail('replay.capacity', `must be an integer ≥ 1, got ${JSON.stringify(replay.capacity)}`);
  if (!(replay.reinitProbability >= 0 && replay.reinitProbability <= 1))
    fail('replay.reinitProbability', `must be in [0, 1], got ${JSON.stringify(replay.reinitProbability)}`);
  const { classNames } = options;
  if (classNames !== undefined && !(Array.isArray(classNames) && classNames.every((n) => typeof n === 'string')))
    fail('classNames', `must be a list of strings, got ${JSON.stringify(classNames)}`);
  return {
    version: CONTRASTIVE_ENERGY_CONFIG_VERSION,
    net,
    alpha,
    dataNoise,
    langevin,
    sampleSteps,
    replay,
    ...(classNames ? { classNames: [...classNames] } : {}),
  };
}

/**
 * Reads a stored config (run.json, manifest) of an energy model trained by contrastive
 * divergence: `net` must be present (an object), the rest may take defaults; a config without
 * `version` is read as version 1. ValidationError names the bad field.
 */
export function parseContrastiveEnergyConfig(config: unknown): ContrastiveEnergyConfig {
  if (!isRecord(config)) return fail('', 'must be an object');
  if (config.objective !== undefined && config.objective !== 'cd')
    fail('objective', `must be absent or "cd" for a contrastive-divergence model, got ${JSON.stringify(config.objective)}`);
  if (!isRecord(config.net)) fail('net', `must be an object (the energy-net config), got ${JSON.stringify(config.net)}`);
  const { objective: _objective, ...rest } = config;
  return resolveContrastiveEnergyConfig(rest as ContrastiveEnergyConfigOptions);
}

/** True for the config of an energy model trained by contrastive divergence (no `objective`, or `cd`). */
export function isContrastiveEnergyConfig(config: Record<string, unknown>): boolean {
  return config.objective === undefined || config.objective === 'cd';
}

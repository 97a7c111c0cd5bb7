import { CIFAR10_CLASS_NAMES, ValidationError } from '@lab/core';
import type { SamplerSpec, ScheduleKind } from '@lab/samplers';
import { resolveUNetConfig, type UNetConfig, type UNetConfigInput, type UNetPresetName } from './config.js';

/** The version of {@link DiffusionModelConfig} this release writes and reads (a config without one is version 1). */
export const DIFFUSION_CONFIG_VERSION = 1;

/** A sampler by name: `ddpm`, `ddim` (η = 0) or `dpm-solver++` (see `createSampler` of @lab/samplers). */
export type DiffusionSamplerKind = SamplerSpec['kind'];

const SAMPLER_KINDS: readonly DiffusionSamplerKind[] = ['ddpm', 'ddim', 'dpm-solver++'];

/** The noise schedule a diffusion model was trained with (see `createSchedule` of @lab/samplers). */
export interface DiffusionScheduleConfig {
  readonly kind: ScheduleKind;
  /** T, the number of diffusion steps. */
  readonly timesteps: number;
}

/**
 * A diffusion model's configuration: the UNet, its noise schedule and what training and sampling
 * need besides. The trainer stores it in run.json and in the checkpoint manifest's `config`;
 * the API provider and the trainer's sampling read it with {@link parseDiffusionConfig}.
 */
export interface DiffusionModelConfig {
  readonly version: typeof DIFFUSION_CONFIG_VERSION;
  readonly unet: UNetConfig;
  readonly schedule: DiffusionScheduleConfig;
  /** Probability of replacing a training label by the null class (classifier-free guidance). */
  readonly labelDropout: number;
  /** Default sampling steps (previews and evaluation, the API's default). */
  readonly sampleSteps: number;
  /**
   * Default sampler (previews and evaluation, the API's default), with `sampleSteps`; absent:
   * DDIM, η = 0 (every config written before the field existed).
   */
  readonly sampler?: DiffusionSamplerKind;
  /**
   * Class-conditional models: the classifier-free guidance scale a request for a class gets when
   * it names none (the API's default); absent: 1, no guidance (every config written before the
   * field existed). Unconditional sampling is never guided.
   */
  readonly guidance?: number;
  /**
   * Class-conditional models: the guidance rescale φ in [0, 1] guided samples get when a request
   * names none (`guidanceRescale` of @lab/samplers' `sampleDiffusion`); absent: 0, plain guidance.
   */
  readonly guidanceRescale?: number;
  /** Class-conditional models: the CIFAR-10 label of each class index (`[3, 5]`: index 0 = cat, 1 = dog). */
  readonly classes?: readonly number[];
  /** Class-conditional models: the name of each class index. */
  readonly classNames?: readonly string[];
}

/** A config to resolve: every field but the version optional (defaults: {@link DIFFUSION_CONFIG_DEFAULTS}). */
export interface DiffusionModelConfigOptions {
  readonly version?: number;
  /** A UNet preset name, or a (partial, on top of `preset`) config. */
  readonly unet?: UNetPresetName | UNetConfigInput;
  readonly schedule?: Partial<DiffusionScheduleConfig>;
  readonly labelDropout?: number;
  readonly sampleSteps?: number;
  /** Default: none (DDIM). */
  readonly sampler?: DiffusionSamplerKind;
  /** Default: none (1, no guidance); class-conditional models only. */
  readonly guidance?: number;
  /** Default: none (0, plain guidance); class-conditional models only. */
  readonly guidanceRescale?: number;
  /** Default for a class-conditional UNet: index = CIFAR label. */
  readonly classes?: readonly number[];
  /** Default: the CIFAR-10 names of `classes`. */
  readonly classNames?: readonly string[];
}

export const DIFFUSION_CONFIG_DEFAULTS = {
  unet: 'tiny',
  schedule: { kind: 'linear', timesteps: 1000 },
  labelDropout: 0.1,
  sampleSteps: 50,
} as const;

const SCHEDULE_KINDS: readonly ScheduleKind[] = ['linear', 'cosine'];

const fail = (field: string, why: string): never => {
  throw new ValidationError(`diffusion config: ${field} ${why}`, { details: { field } });
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A complete, validated config for a new model: defaults filled (a class-conditional UNet's
 * `classes` default to index = CIFAR label). A resolved config passes through unchanged.
 * Throws `ValidationError` naming the bad field.
 */
export function resolveDiffusionConfig(options: DiffusionModelConfigOptions = {}): DiffusionModelConfig {
  return build(options, true);
}

/**
 * Reads a stored config (checkpoint manifest or run.json) as `from_config` does in diffusers:
 * `unet` and `schedule` (kind, timesteps) must be present, the rest may take defaults; a config
 * without `version` is read as version 1 (the format before the field existed). An invalid or
 * unknown-version config throws `ValidationError` naming the field.
 */
export function parseDiffusionConfig(config: unknown): DiffusionModelConfig {
  if (!isRecord(config)) return fail('', 'must be an object');
  if (!isRecord(config.unet)) fail('unet', 'must be an object (the UNet config), got ' + JSON.stringify(config.unet));
  if (!isRecord(config.schedule)) fail('schedule', `must be an object {kind, timesteps}, got ${JSON.stringify(config.schedule)}`);
  const schedule = config.schedule as Record<string, unknown>;
  for (const field of ['kind', 'timesteps'] as const) if (schedule[field] === undefined) fail(`schedule.${field}`, 'is missing');
  return build(config as DiffusionModelConfigOptions, false);
}

function build(options: DiffusionModelConfigOptions, fillClasses: boolean): DiffusionModelConfig {
  const version = options.version ?? DIFFUSION_CONFIG_VERSION;
  if (version !== DIFFUSION_CONFIG_VERSION)
    fail('version', `${JSON.stringify(version)} is not supported (this release reads version ${DIFFUSION_CONFIG_VERSION})`);
  let unet: UNetConfig;
  try {
    unet = resolveUNetConfig(options.unet ?? DIFFUSION_CONFIG_DEFAULTS.unet);
  } catch (error) {
    const field = (error as ValidationError).details?.field;
    throw new ValidationError(`diffusion config: unet: ${(error as Error).message}`, {
      cause: error,
      details: { field: field === undefined ? 'unet' : `unet.${String(field)}` },
    });
  }
  const schedule = { ...DIFFUSION_CONFIG_DEFAULTS.schedule, ...options.schedule };
  if (!SCHEDULE_KINDS.includes(schedule.kind))
    fail('schedule.kind', `must be one of ${SCHEDULE_KINDS.join(', ')}, got ${JSON.stringify(schedule.kind)}`);
  if (!(Number.isInteger(schedule.timesteps) && schedule.timesteps >= 1))
    fail('schedule.timesteps', `must be an integer ≥ 1, got ${JSON.stringify(schedule.timesteps)}`);
  const labelDropout = options.labelDropout ?? DIFFUSION_CONFIG_DEFAULTS.labelDropout;
  if (!(typeof labelDropout === 'number' && labelDropout >= 0 && labelDropout <= 1))
    fail('labelDropout', `must be in [0, 1], got ${JSON.stringify(labelDropout)}`);
  const sampleSteps = options.sampleSteps ?? DIFFUSION_CONFIG_DEFAULTS.sampleSteps;
  if (!(Number.isInteger(sampleSteps) && sampleSteps >= 1))
    fail('sampleSteps', `must be an integer ≥ 1, got ${JSON.stringify(sampleSteps)}`);
  const sampler = options.sampler;
  if (sampler !== undefined && !SAMPLER_KINDS.includes(sampler))
    fail('sampler', `must be one of ${SAMPLER_KINDS.join(', ')}, got ${JSON.stringify(sampler)}`);
  const numClasses = unet.numClasses;
  const guidance = options.guidance;
  if (guidance !== undefined) {
    if (numClasses === undefined) fail('guidance', 'applies to class-conditional models only');
    if (!(typeof guidance === 'number' && Number.isFinite(guidance) && guidance >= 0))
      fail('guidance', `must be a finite number ≥ 0, got ${JSON.stringify(guidance)}`);
  }
  const guidanceRescale = options.guidanceRescale;
  if (guidanceRescale !== undefined) {
    if (numClasses === undefined) fail('guidanceRescale', 'applies to class-conditional models only');
    if (!(typeof guidanceRescale === 'number' && guidanceRescale >= 0 && guidanceRescale <= 1))
      fail('guidanceRescale', `must be a number in [0, 1], got ${JSON.stringify(guidanceRescale)}`);
  }
  const classes = classesOf(options.classes, numClasses, fillClasses);
  const classNames = classNamesOf(options.classNames, classes, numClasses);
  return {
    version: DIFFUSION_CONFIG_VERSION,
    unet,
    schedule: { kind: schedule.kind, timesteps: schedule.timesteps },
    labelDropout,
    sampleSteps,
    ...(sampler === undefined ? {} : { sampler }),
    ...(guidance === undefined ? {} : { guidance }),
    ...(guidanceRescale === undefined ? {} : { guidanceRescale }),
    ...(classes ? { classes } : {}),
    ...(classNames ? { classNames } : {}),
  };
}

function classesOf(classes: unknown, numClasses: number | undefined, fill: boolean): number[] | undefined {
  if (classes === undefined) {
    if (!fill || numClasses === undefined) return undefined;
    classes = Array.from({ length: numClasses }, (_, i) => i);
  } else if (numClasses === undefined) return fail('classes', 'is set, but the UNet is unconditional (unet.numClasses missing)');
  const list = classes as number[];
  if (
    !Array.isArray(list) ||
    list.length !== numClasses ||
    new Set(list).size !== list.length ||
    !list.every((c) => Number.isInteger(c) && c >= 0 && c <= 9)
  )
    fail('classes', `must be ${numClasses} distinct CIFAR-10 labels 0–9 (one per UNet class), got ${JSON.stringify(classes)}`);
  return [...list];
}

function classNamesOf(names: unknown, classes: readonly number[] | undefined, numClasses: number | undefined): string[] | undefined {
  if (names === undefined) {
    if (classes) return classes.map((c) => CIFAR10_CLASS_NAMES[c] as string);
    return numClasses === 10 ? [...CIFAR10_CLASS_NAMES] : undefined;
  }
  if (numClasses === undefined) return fail('classNames', 'is set, but the UNet is unconditional (unet.numClasses missing)');
  if (!Array.isArray(names) || names.length !== numClasses || !names.every((n) => typeof n === 'string'))
    fail('classNames', `must be ${numClasses} strings (one per UNet class), got ${JSON.stringify(names)}`);
  return [...(names as string[])];
}

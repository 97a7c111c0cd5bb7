import { ValidationError } from '@lab/core';
import type { SinusoidalConvention, SinusoidalOrder } from '@lab/embeddings';

/** Everything that defines a UNet's architecture. JSON-serialisable (it goes into checkpoint manifests). */
export interface UNetConfig {
  /** Height = width of the inputs; attention placement depends on it. */
  imageSize: number;
  /** Channels of x (3 for RGB). */
  inChannels: number;
  /** Channels of the output (default `inChannels`: predicted noise ε). */
  outChannels: number;
  /** Channels at the first level (Ho et al.'s `ch`). */
  baseChannels: number;
  /** Channel multiplier per level; the resolution halves between levels. */
  channelMults: number[];
  /** Residual blocks per level on the way down (the way up has one more). */
  numResBlocks: number;
  /** Resolutions (H) at which self-attention follows each residual block. */
  attentionResolutions: number[];
  /** Attention heads. */
  numHeads: number;
  /** Dropout inside residual blocks (training only). */
  dropout: number;
  /** GroupNorm groups; must divide every channel count. */
  groups: number;
  /** GroupNorm epsilon. */
  normEpsilon: number;
  /** Self-attention between the two bottleneck residual blocks. */
  midAttention: boolean;
  /** Number of classes for class conditioning (label `numClasses` is the null class); absent = unconditional. */
  numClasses?: number;
  /** Sinusoidal time-embedding settings. */
  timeEmbedding: { convention: SinusoidalConvention; order: SinusoidalOrder; maxPeriod: number };
  /** Seed for weight initialisation (absent = unseeded). */
  seed?: number;
}

export type UNetPresetName = 'tiny' | 'small' | 'ddpm-cifar10';

/** A partial config, optionally starting from a preset (`{preset: 'small', numClasses: 10}`). */
export type UNetConfigInput = Partial<UNetConfig> & { preset?: UNetPresetName };

const DDPM_TIME_EMBEDDING = { convention: 'ddpm', order: 'sin-cos', maxPeriod: 10000 } as const;

/** The named architectures. All take 32×32×3 inputs (override `imageSize` for others). */
export const UNET_PRESETS: Readonly<Record<UNetPresetName, Readonly<UNetConfig>>> = {
  /** ≈0.6M parameters: tests and CPU demos. */
  tiny: {
    imageSize: 32,
    inChannels: 3,
    outChannels: 3,
    baseChannels: 24,
    channelMults: [1, 2, 2],
    numResBlocks: 1,
    attentionResolutions: [8],
    numHeads: 1,
    dropout: 0,
    groups: 8,
    normEpsilon: 1e-5,
    midAttention: true,
    timeEmbedding: { ...DDPM_TIME_EMBEDDING },
  },
  /** ≈6M parameters: a model worth training on CIFAR-10 without a GPU. */
  small: {
    imageSize: 32,
    inChannels: 3,
    outChannels: 3,
    baseChannels: 64,
    channelMults: [1, 2, 2],
    numResBlocks: 2,
    attentionResolutions: [16],
    numHeads: 1,
    dropout: 0.1,
    groups: 32,
    normEpsilon: 1e-5,
    midAttention: true,
    timeEmbedding: { ...DDPM_TIME_EMBEDDING },
  },
  /** Ho et al. (2020)'s CIFAR-10 network: 35.7M parameters. */
  'ddpm-cifar10': {
    imageSize: 32,
    inChannels: 3,
    outChannels: 3,
    baseChannels: 128,
    channelMults: [1, 2, 2, 2],
    numResBlocks: 2,
    attentionResolutions: [16],
    numHeads: 1,
    dropout: 0.1,
    groups: 32,
    normEpsilon: 1e-5,
    midAttention: true,
    timeEmbedding: { ...DDPM_TIME_EMBEDDING },
  },
};

function isPresetName(value: unknown): value is UNetPresetName {
  return typeof value === 'string' && Object.hasOwn(UNET_PRESETS, value);
}

const positiveInt = (value: unknown): value is number => Number.isInteger(value) && (value as number) > 0;

/**
 * A complete, validated config from a preset name, a full config, or a partial config on top of
 * a preset (default preset: none, so a partial config without `preset` must be complete).
 * Throws `ValidationError` naming the first bad field.
 */
export function resolveUNetConfig(input: UNetPresetName | UNetConfigInput): UNetConfig {
  let merged: Partial<UNetConfig>;
  if (typeof input === 'string') {
    if (!isPresetName(input)) throw new ValidationError(`unknown UNet preset '${input}' (known: ${Object.keys(UNET_PRESETS).join(', ')})`);
    merged = structuredClone(UNET_PRESETS[input]);
  } else {
    const { preset, ...rest } = input;
    if (preset !== undefined && !isPresetName(preset)) throw new ValidationError(`unknown UNet preset '${String(preset)}'`);
    const base: Partial<UNetConfig> = preset ? structuredClone(UNET_PRESETS[preset]) : {};
    merged = { ...base, ...structuredClone(rest) };
    if (rest.inChannels !== undefined && rest.outChannels === undefined) merged.outChannels = rest.inChannels;
  }
  merged.outChannels ??= merged.inChannels;
  merged.dropout ??= 0;
  merged.numHeads ??= 1;
  merged.normEpsilon ??= 1e-5;
  merged.midAttention ??= true;
  merged.attentionResolutions ??= [];
  merged.timeEmbedding = { ...DDPM_TIME_EMBEDDING, ...merged.timeEmbedding };
  return validate(merged);
}

function validate(c: Partial<UNetConfig>): UNetConfig {
  const fail = (field: string, why: string): never => {
    throw new ValidationError(`UNet config: ${field} ${why}`, { details: { field } });
  };
  for (const field of ['imageSize', 'inChannels', 'outChannels', 'baseChannels', 'numResBlocks', 'numHeads', 'groups'] as const) {
    if (!positiveInt(c[field])) fail(field, `must be a positive integer, got ${String(c[field])}`);
  }
  const config = c as UNetConfig;
  if (!Array.isArray(config.channelMults) || config.channelMults.length === 0 || !config.channelMults.every(positiveInt)) {
    fail('channelMults', 'must be a non-empty list of positive integers');
  }
  if (!Array.isArray(config.attentionResolutions) || !config.attentionResolutions.every(positiveInt)) {
    fail('attentionResolutions', 'must be a list of positive integers');
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) fail('dropout', `must be in [0, 1), got ${config.dropout}`);
  if (!(config.normEpsilon > 0)) fail('normEpsilon', 'must be > 0');
  if (config.numClasses !== undefined && !positiveInt(config.numClasses))
    fail('numClasses', `must be a positive integer, got ${config.numClasses}`);
  const downsamplings = config.channelMults.length - 1;
  if (config.imageSize % 2 ** downsamplings !== 0) {
    fail('imageSize', `${config.imageSize} must be divisible by 2^${downsamplings} for ${config.channelMults.length} levels`);
  }
  for (const mult of config.channelMults) {
    const channels = mult * config.baseChannels;
    if (channels % config.groups !== 0) fail('groups', `${config.groups} must divide every level's channels (${channels})`);
    if (channels % config.numHeads !== 0) fail('numHeads', `${config.numHeads} must divide every level's channels (${channels})`);
  }
  if (config.baseChannels % 2 !== 0 || config.baseChannels < 4) fail('baseChannels', 'must be even and ≥ 4 (it is the sinusoid width)');
  return config;
}

/** Where the UNet's feature maps are, level by level. */
export interface UNetLayout {
  levels: Array<{ resolution: number; channels: number; attention: boolean }>;
  /** Shape `[H, W, C]` of the bottleneck (the middle block's output). */
  bottleneck: [number, number, number];
}

/** The resolutions and channel counts a config produces, without building anything. */
export function describeUNet(input: UNetPresetName | UNetConfigInput): UNetLayout {
  const config = resolveUNetConfig(input);
  const levels = config.channelMults.map((mult, i) => {
    const resolution = config.imageSize / 2 ** i;
    return { resolution, channels: mult * config.baseChannels, attention: config.attentionResolutions.includes(resolution) };
  });
  const last = levels[levels.length - 1]!;
  return { levels, bottleneck: [last.resolution, last.resolution, last.channels] };
}

import { ValidationError } from '@lab/core';

/**
 * What the network's output means:
 * - `energy`: one scalar energy per sample, output [B, 1].
 * - `conditional`: E(x, y); the model takes `[x, y]` (y: int32 labels [B]) and outputs [B, 1]
 *   (projection head: E = w·φ(x) + b + embed(y)·φ(x)).
 * - `jem`: K class logits f(x), output [B, K]; E(x) = −logsumexp f(x), E(x, y) = −f(x)[y].
 */
export type EnergyMode = 'energy' | 'conditional' | 'jem';

/** Network body: UvA-tutorial strided CNN, IGEBM-style residual CNN, or an MLP for low-dimensional data. */
export type EnergyArchitecture = 'small' | 'resnet' | 'mlp';

export type EnergyNetPreset = 'small' | 'resnet' | 'resnet-small' | 'resnet-medium';

export interface EnergyNetConfig {
  readonly architecture: EnergyArchitecture;
  /** Per-sample input shape (default [32, 32, 3]; `mlp` accepts any shape, e.g. [2]). */
  readonly inputShape: readonly number[];
  /** `small`: filters of each stride-2 conv; `resnet`: filters of each stage; `mlp`: unused. */
  readonly channels: readonly number[];
  /** Width of the dense layer(s) before the head (`small`: one layer; `mlp`: one per entry). */
  readonly hiddenUnits: readonly number[];
  /** Residual blocks per stage (`resnet` only). */
  readonly blocksPerStage: number;
  /** Divide every conv/dense kernel by its spectral norm (one power iteration per training call). */
  readonly spectralNorm: boolean;
  readonly mode: EnergyMode;
  /** Number of classes for `conditional` and `jem`. */
  readonly numClasses: number;
  /** Seed for the weight initialisers (default: unseeded). */
  readonly seed?: number;
}

/** Overrides on top of a preset (default `small`). */
export type EnergyNetOptions = Partial<EnergyNetConfig> & { readonly preset?: EnergyNetPreset };

export const ENERGY_NET_PRESETS: Readonly<Record<EnergyNetPreset, EnergyNetConfig>> = {
  /** The UvA deep-energy tutorial's CNN: four stride-2 convs 16-32-64-64 → dense 64 → energy. Fast on CPU. */
  small: {
    architecture: 'small',
    inputShape: [32, 32, 3],
    channels: [16, 32, 64, 64],
    hiddenUnits: [64],
    blocksPerStage: 1,
    spectralNorm: false,
    mode: 'energy',
    numClasses: 10,
  },
  /** IGEBM-style: residual blocks with SiLU, average-pool downsampling, spectral norm, global pooling → energy. */
  resnet: {
    architecture: 'resnet',
    inputShape: [32, 32, 3],
    channels: [64, 128, 128],
    hiddenUnits: [],
    blocksPerStage: 1,
    spectralNorm: true,
    mode: 'energy',
    numClasses: 10,
  },
  /**
   * A narrow residual CNN (16-32-64) without spectral norm, for score matching (`--objective dsm`):
   * at equal images seen it fits the score better than `small`, and spectral norm would cap the
   * input gradients that score matching needs to be large. ~10× slower per image than `small`.
   */
  'resnet-small': {
    architecture: 'resnet',
    inputShape: [32, 32, 3],
    channels: [16, 32, 64],
    hiddenUnits: [],
    blocksPerStage: 1,
    spectralNorm: false,
    mode: 'energy',
    numClasses: 10,
  },
  /**
   * `resnet`'s 64-128-128 body without spectral norm: score matching with ~8× the capacity of
   * `resnet-small`, for a GPU (each step differentiates the input gradient, ~3× a forward-backward).
   */
  'resnet-medium': {
    architecture: 'resnet',
    inputShape: [32, 32, 3],
    channels: [64, 128, 128],
    hiddenUnits: [],
    blocksPerStage: 1,
    spectralNorm: false,
    mode: 'energy',
    numClasses: 10,
  },
};

function check(condition: boolean, message: string): void {
  if (!condition) throw new ValidationError(message);
}

const isPositiveInt = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;

/** Fills a config from its preset and validates it (ValidationError on bad values). */
export function resolveEnergyNetConfig(options: EnergyNetOptions | EnergyNetPreset = 'small'): EnergyNetConfig {
  const opts: EnergyNetOptions = typeof options === 'string' ? { preset: options } : options;
  const presetName = opts.preset ?? 'small';
  const preset = ENERGY_NET_PRESETS[presetName];
  check(preset !== undefined, `Unknown energy-net preset '${String(presetName)}' (known: ${Object.keys(ENERGY_NET_PRESETS).join(', ')})`);
  const { preset: _ignored, ...overrides } = opts;
  const config: EnergyNetConfig = { ...preset, ...overrides };

  check(['small', 'resnet', 'mlp'].includes(config.architecture), `Unknown architecture '${String(config.architecture)}'`);
  check(['energy', 'conditional', 'jem'].includes(config.mode), `Unknown mode '${String(config.mode)}'`);
  check(
    config.inputShape.length >= 1 && config.inputShape.every(isPositiveInt),
    `inputShape must be positive integers, got [${config.inputShape}]`,
  );
  if (config.architecture !== 'mlp') {
    check(
      config.inputShape.length === 3,
      `The ${config.architecture} architecture needs an image input [H, W, C], got [${config.inputShape}]`,
    );
    check(
      config.channels.length >= 1 && config.channels.every(isPositiveInt),
      `channels must be positive integers, got [${config.channels}]`,
    );
  }
  if (config.architecture === 'mlp') check(config.hiddenUnits.length >= 1, 'The mlp architecture needs at least one hiddenUnits entry');
  check(config.hiddenUnits.every(isPositiveInt), `hiddenUnits must be positive integers, got [${config.hiddenUnits}]`);
  check(isPositiveInt(config.blocksPerStage), `blocksPerStage must be a positive integer, got ${config.blocksPerStage}`);
  if (config.mode !== 'energy')
    check(isPositiveInt(config.numClasses) && config.numClasses >= 2, `numClasses must be an integer ≥ 2, got ${config.numClasses}`);
  check(config.seed === undefined || Number.isInteger(config.seed), `seed must be an integer, got ${config.seed}`);
  return config;
}

import type { BaseLayerArgs, LayerConfig } from '@lab/embeddings';
import * as tfl from '@tensorflow/tfjs-layers';

export type { BaseLayerArgs, LayerConfig, LayerKwargs } from '@lab/embeddings';

/** A weight initialiser (the class is not exported by tfjs-layers). */
export type Initializer = ReturnType<typeof tfl.initializers.zeros>;

/** Options shared by the UNet's custom layers. */
export interface SeededLayerArgs extends BaseLayerArgs {
  /** Seed for the weight initialisers (default: unseeded). Each weight uses `seed + k`. */
  seed?: number;
}

/** Glorot-uniform (Ho et al.'s `variance_scaling(1, 'fan_avg', 'uniform')`), seeded when asked. */
export function glorot(seed: number | undefined, offset: number): Initializer {
  return tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: seed + offset });
}

/** Adds `seed` to a config only when set (configs must stay JSON). */
export function withSeed(config: LayerConfig, seed: number | undefined): LayerConfig {
  if (seed !== undefined) config['seed'] = seed;
  return config;
}

/** The first input's shape, for layers called on one tensor or a list. */
export function firstShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
}

/** The static channel count (last axis) of an NHWC shape. */
export function channelsOf(shape: tfl.Shape, layer: string): number {
  const channels = shape[shape.length - 1];
  if (typeof channels !== 'number') throw new Error(`${layer}: the channel axis must be known when the layer is built`);
  return channels;
}

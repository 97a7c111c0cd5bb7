import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BaseLayerArgs, channelsOf, firstShape, type LayerConfig, type LayerKwargs } from './common.js';
import { groupNorm, silu } from './ops.js';

export interface GroupNormArgs extends BaseLayerArgs {
  /** Number of channel groups (must divide the channel count; default 32). */
  groups?: number;
  /** Added to the variance (default 1e-5). */
  epsilon?: number;
  /** Apply SiLU after the affine transform (default `'linear'`). */
  activation?: 'linear' | 'silu';
}

/**
 * Group normalisation (Wu & He, 2018) over NHWC inputs with a learned per-channel scale
 * (`gamma`, init 1) and shift (`beta`, init 0), optionally followed by SiLU. Registered for
 * serialisation.
 */
export class GroupNorm extends tfl.layers.Layer {
  static readonly className = 'GroupNorm';
  readonly groups: number;
  readonly epsilon: number;
  readonly activation: 'linear' | 'silu';
  private gamma!: tfl.LayerVariable;
  private beta!: tfl.LayerVariable;

  constructor(args: GroupNormArgs = {}) {
    super(args);
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-5;
    this.activation = args.activation ?? 'linear';
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(firstShape(inputShape), this.name);
    if (channels % this.groups !== 0)
      throw new ValidationError(`${this.name}: ${channels} channels do not split into ${this.groups} groups`);
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return firstShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      const y = groupNorm(x, this.gamma.read(), this.beta.read(), this.groups, this.epsilon);
      return this.activation === 'silu' ? silu(y) : y;
    });
  }

  override getConfig(): LayerConfig {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon, activation: this.activation };
  }
}
tf.serialization.registerClass(GroupNorm);

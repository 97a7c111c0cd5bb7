import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelsOf, glorot, type Initializer, type LayerConfig, type LayerKwargs, type SeededLayerArgs, withSeed } from './common.js';
import { addKeepingNothing, conv2dSame, dense, dropout, groupNorm, silu } from './ops.js';

export interface ResBlockArgs extends SeededLayerArgs {
  /** Output channels. */
  channels: number;
  /** GroupNorm groups (default 32). */
  groups?: number;
  /** GroupNorm epsilon (default 1e-5). */
  epsilon?: number;
  /** Dropout rate before the second conv, active only when training (default 0). */
  dropout?: number;
}

/**
 * Residual block of Ho et al.'s UNet, called on `[x, emb]` with `x` `[B,H,W,Cin]` and the
 * (time + class) embedding `emb` `[B,E]`:
 *
 *     h = conv3×3(SiLU(GN(x))) + Dense(SiLU(emb))        (broadcast over H, W)
 *     h = conv3×3(dropout(SiLU(GN(h))))
 *     out = skip(x) + h,   skip = 1×1 conv when Cin ≠ channels, else identity
 *
 * Registered for serialisation.
 */
export class ResBlock extends tfl.layers.Layer {
  static readonly className = 'ResBlock';
  readonly channels: number;
  readonly groups: number;
  readonly epsilon: number;
  readonly dropout: number;
  readonly seed: number | undefined;
  private weightsByName: Record<string, tfl.LayerVariable> = {};

  constructor(args: ResBlockArgs) {
    super(args);
    this.channels = args.channels;
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-5;
    this.dropout = args.dropout ?? 0;
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const [xShape, embShape] = inputShape as tfl.Shape[];
    if (xShape === undefined || embShape === undefined) throw new Error(`${this.name}: call it on [x, emb]`);
    const cin = channelsOf(xShape, this.name);
    const embDim = channelsOf(embShape, this.name);
    const c = this.channels;
    const add = (name: string, shape: number[], init: Initializer) => {
      this.weightsByName[name] = this.addWeight(name, shape, 'float32', init);
    };
    const ones = tfl.initializers.ones();
    const zeros = tfl.initializers.zeros();
    add('norm1_gamma', [cin], ones);
    add('norm1_beta', [cin], zeros);
    add('conv1_kernel', [3, 3, cin, c], glorot(this.seed, 0));
    add('conv1_bias', [c], zeros);
    add('emb_kernel', [embDim, c], glorot(this.seed, 1));
    add('emb_bias', [c], zeros);
    add('norm2_gamma', [c], ones);
    add('norm2_beta', [c], zeros);
    add('conv2_kernel', [3, 3, c, c], glorot(this.seed, 2));
    add('conv2_bias', [c], zeros);
    if (cin !== c) {
      add('skip_kernel', [1, 1, cin, c], glorot(this.seed, 3));
      add('skip_bias', [c], zeros);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const xShape = (inputShape as tfl.Shape[])[0]!;
    return [...xShape.slice(0, -1), this.channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: LayerKwargs): tf.Tensor {
    const w = (name: string) => this.weightsByName[name]!.read();
    return tf.tidy(() => {
      const [x, emb] = inputs as [tf.Tensor4D, tf.Tensor2D];
      let h = groupNorm(x, w('norm1_gamma'), w('norm1_beta'), this.groups, this.epsilon);
      h = conv2dSame(silu(h) as tf.Tensor4D, w('conv1_kernel') as tf.Tensor4D, w('conv1_bias') as tf.Tensor1D);
      const projected = dense(silu(emb) as tf.Tensor2D, w('emb_kernel') as tf.Tensor2D, w('emb_bias'));
      h = addKeepingNothing(h, tf.reshape(projected, [-1, 1, 1, this.channels])) as tf.Tensor4D;
      h = silu(groupNorm(h, w('norm2_gamma'), w('norm2_beta'), this.groups, this.epsilon)) as tf.Tensor4D;
      if (kwargs?.['training'] === true && this.dropout > 0) h = dropout(h, this.dropout) as tf.Tensor4D;
      h = conv2dSame(h, w('conv2_kernel') as tf.Tensor4D, w('conv2_bias') as tf.Tensor1D);
      const skip = this.weightsByName['skip_kernel'] ? conv2dSame(x, w('skip_kernel') as tf.Tensor4D, w('skip_bias') as tf.Tensor1D) : x;
      return addKeepingNothing(skip, h);
    });
  }

  override getConfig(): LayerConfig {
    return withSeed(
      { ...super.getConfig(), channels: this.channels, groups: this.groups, epsilon: this.epsilon, dropout: this.dropout },
      this.seed,
    );
  }
}
tf.serialization.registerClass(ResBlock);

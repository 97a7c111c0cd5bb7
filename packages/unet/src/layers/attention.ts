import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  channelsOf,
  firstShape,
  glorot,
  type Initializer,
  type LayerConfig,
  type LayerKwargs,
  type SeededLayerArgs,
  withSeed,
} from './common.js';
import { type AttentionStrategy, addKeepingNothing, defaultAttentionStrategy, dense, groupNorm, scaledDotProductAttention } from './ops.js';

export interface SelfAttention2DArgs extends SeededLayerArgs {
  /** Number of heads (must divide the channel count; default 1, as in Ho et al.). */
  numHeads?: number;
  /** GroupNorm groups (default 32). */
  groups?: number;
  /** GroupNorm epsilon (default 1e-5). */
  epsilon?: number;
}

/**
 * Multi-head self-attention over the H·W positions of an NHWC feature map, with a residual:
 *
 *     [q | k | v] = GN(x) · W_qkv + b_qkv               (per position, C → 3C)
 *     out = x + concat_heads(softmax(q_h k_hᵀ / √d) v_h) · W_o + b_o,   d = C / heads
 *
 * Registered for serialisation. The matrix products use plain 2-D matMuls on wasm
 * (see {@link scaledDotProductAttention}).
 */
export class SelfAttention2D extends tfl.layers.Layer {
  static readonly className = 'SelfAttention2D';
  readonly numHeads: number;
  readonly groups: number;
  readonly epsilon: number;
  readonly seed: number | undefined;
  /** Overrides the backend-based choice of matMul strategy (not serialised). */
  strategy: AttentionStrategy | undefined;
  private weightsByName: Record<string, tfl.LayerVariable> = {};

  constructor(args: SelfAttention2DArgs = {}) {
    super(args);
    this.numHeads = args.numHeads ?? 1;
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-5;
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const c = channelsOf(firstShape(inputShape), this.name);
    if (c % this.numHeads !== 0) throw new ValidationError(`${this.name}: ${c} channels do not split into ${this.numHeads} heads`);
    const add = (name: string, shape: number[], init: Initializer) => {
      this.weightsByName[name] = this.addWeight(name, shape, 'float32', init);
    };
    add('norm_gamma', [c], tfl.initializers.ones());
    add('norm_beta', [c], tfl.initializers.zeros());
    add('qkv_kernel', [c, 3 * c], glorot(this.seed, 0));
    add('qkv_bias', [3 * c], tfl.initializers.zeros());
    add('out_kernel', [c, c], glorot(this.seed, 1));
    add('out_bias', [c], tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return firstShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    const w = (name: string) => this.weightsByName[name]!.read();
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      const [batch, height, width, c] = x.shape;
      const length = height * width;
      const heads = this.numHeads;
      const d = c / heads;
      const normed = tf.reshape(groupNorm(x, w('norm_gamma'), w('norm_beta'), this.groups, this.epsilon), [batch * length, c]);
      // q, k, v from column slices of W_qkv: slicing the small weight beats splitting the [B·L, 3C] activations.
      const project = (part: number) =>
        dense(
          normed as tf.Tensor2D,
          tf.slice(w('qkv_kernel'), [0, part * c], [c, c]) as tf.Tensor2D,
          tf.slice(w('qkv_bias'), [part * c], [c]),
        );
      // [B·L, C] → [B·heads, L, d] (a pure reshape for one head).
      const perHead = (t: tf.Tensor) =>
        (heads === 1
          ? tf.reshape(t, [batch, length, d])
          : tf.reshape(tf.transpose(tf.reshape(t, [batch, length, heads, d]), [0, 2, 1, 3]), [batch * heads, length, d])) as tf.Tensor3D;
      const [q, k, v] = [0, 1, 2].map((part) => perHead(project(part))) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      const attended = scaledDotProductAttention(q, k, v, this.strategy ?? defaultAttentionStrategy());
      const merged =
        heads === 1
          ? tf.reshape(attended, [batch * length, c])
          : tf.reshape(tf.transpose(tf.reshape(attended, [batch, heads, length, d]), [0, 2, 1, 3]), [batch * length, c]);
      const out = dense(merged as tf.Tensor2D, w('out_kernel') as tf.Tensor2D, w('out_bias'));
      return addKeepingNothing(x, tf.reshape(out, x.shape));
    });
  }

  override getConfig(): LayerConfig {
    return withSeed({ ...super.getConfig(), numHeads: this.numHeads, groups: this.groups, epsilon: this.epsilon }, this.seed);
  }
}
tf.serialization.registerClass(SelfAttention2D);

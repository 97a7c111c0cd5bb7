import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BaseLayerArgs, LayerConfig, LayerKwargs } from './layer-types.js';
import { type SinusoidalConvention, type SinusoidalOrder, sinusoidalEmbedding, sinusoidalFrequencies } from './sinusoidal.js';

export interface TimeEmbeddingArgs extends BaseLayerArgs {
  /** Width of the sinusoidal embedding fed to the first Dense. */
  sinusoidDim: number;
  /** Output width (Ho et al.: 4 × the UNet's base channels). */
  units: number;
  /** Width of the hidden Dense (default `units`). */
  hiddenUnits?: number;
  maxPeriod?: number;
  convention?: SinusoidalConvention;
  order?: SinusoidalOrder;
  /** Seed for the weight initialisers (default: unseeded). */
  seed?: number;
}

/**
 * Timestep embedding layer: `Dense(units) ∘ SiLU ∘ Dense(hiddenUnits) ∘ sinusoid(sinusoidDim)`.
 * Input: float32 timesteps `[B]` or `[B, 1]` (declare a symbolic input of shape `[1]`: `predict` expands rank-1 inputs); output `[B, units]`. Registered for serialisation.
 */
export class TimeEmbedding extends tfl.layers.Layer {
  static readonly className = 'TimeEmbedding';
  readonly sinusoidDim: number;
  readonly units: number;
  readonly hiddenUnits: number;
  readonly maxPeriod: number;
  readonly convention: SinusoidalConvention;
  readonly order: SinusoidalOrder;
  readonly seed: number | undefined;
  private kernel1!: tfl.LayerVariable;
  private bias1!: tfl.LayerVariable;
  private kernel2!: tfl.LayerVariable;
  private bias2!: tfl.LayerVariable;

  constructor(args: TimeEmbeddingArgs) {
    super(args);
    this.sinusoidDim = args.sinusoidDim;
    this.units = args.units;
    this.hiddenUnits = args.hiddenUnits ?? args.units;
    this.maxPeriod = args.maxPeriod ?? 10000;
    this.convention = args.convention ?? 'transformer';
    this.order = args.order ?? 'sin-cos';
    this.seed = args.seed;
    // Validate the sinusoid settings now rather than on the first call.
    sinusoidalFrequencies(this.sinusoidDim, { maxPeriod: this.maxPeriod, convention: this.convention });
  }

  override build(): void {
    const seed = this.seed;
    const init = (offset: number) => tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: seed + offset });
    this.kernel1 = this.addWeight('kernel1', [this.sinusoidDim, this.hiddenUnits], 'float32', init(0));
    this.bias1 = this.addWeight('bias1', [this.hiddenUnits], 'float32', tfl.initializers.zeros());
    this.kernel2 = this.addWeight('kernel2', [this.hiddenUnits, this.units], 'float32', init(1));
    this.bias2 = this.addWeight('bias2', [this.units], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const t = tf.reshape(Array.isArray(inputs) ? inputs[0]! : inputs, [-1]) as tf.Tensor1D;
      const emb = sinusoidalEmbedding(t, this.sinusoidDim, { maxPeriod: this.maxPeriod, convention: this.convention, order: this.order });
      const hidden = tf.fused.matMul({ a: emb, b: this.kernel1.read(), bias: this.bias1.read() });
      return tf.fused.matMul({ a: tf.mul(hidden, tf.sigmoid(hidden)), b: this.kernel2.read(), bias: this.bias2.read() });
    });
  }

  override getConfig(): LayerConfig {
    const config: LayerConfig = {
      ...super.getConfig(),
      sinusoidDim: this.sinusoidDim,
      units: this.units,
      hiddenUnits: this.hiddenUnits,
      maxPeriod: this.maxPeriod,
      convention: this.convention,
      order: this.order,
    };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return config;
  }
}
tf.serialization.registerClass(TimeEmbedding);

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelsOf, firstShape, glorot, type LayerConfig, type LayerKwargs, type SeededLayerArgs, withSeed } from './common.js';
import { conv2dSame, upsampleNearest2x } from './ops.js';

/** Adds a 3×3 conv (kernel + bias, C → C) to a layer. */
function addConv3x3(layer: tfl.layers.Layer & { seed: number | undefined }, inputShape: tfl.Shape | tfl.Shape[]) {
  const c = channelsOf(firstShape(inputShape), layer.name);
  // addWeight is protected; these layers call it through themselves.
  const add = (layer as unknown as { addWeight: tfl.layers.Layer['addWeight'] }).addWeight.bind(layer);
  return {
    kernel: add('kernel', [3, 3, c, c], 'float32', glorot(layer.seed, 0)),
    bias: add('bias', [c], 'float32', tfl.initializers.zeros()),
  };
}

/** Halves H and W with a stride-2 3×3 conv ('same' padding, as in Ho et al.). Registered for serialisation. */
export class Downsample extends tfl.layers.Layer {
  static readonly className = 'Downsample';
  readonly seed: number | undefined;
  private conv!: { kernel: tfl.LayerVariable; bias: tfl.LayerVariable };

  constructor(args: SeededLayerArgs = {}) {
    super(args);
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    this.conv = addConv3x3(this, inputShape);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [b, h, w, c] = firstShape(inputShape);
    const half = (n: number | null | undefined) => (typeof n === 'number' ? Math.ceil(n / 2) : null);
    return [b ?? null, half(h), half(w), c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
    return tf.fused.conv2d({ x, filter: this.conv.kernel.read() as tf.Tensor4D, bias: this.conv.bias.read(), strides: 2, pad: 'same' });
  }

  override getConfig(): LayerConfig {
    return withSeed({ ...super.getConfig() }, this.seed);
  }
}
tf.serialization.registerClass(Downsample);

/**
 * Doubles H and W: nearest-neighbour ×2 (via {@link upsampleNearest2x}, whose gradient is right
 * on every backend) then a 3×3 conv. Registered for serialisation.
 */
export class Upsample extends tfl.layers.Layer {
  static readonly className = 'Upsample';
  readonly seed: number | undefined;
  private conv!: { kernel: tfl.LayerVariable; bias: tfl.LayerVariable };

  constructor(args: SeededLayerArgs = {}) {
    super(args);
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    this.conv = addConv3x3(this, inputShape);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [b, h, w, c] = firstShape(inputShape);
    const twice = (n: number | null | undefined) => (typeof n === 'number' ? 2 * n : null);
    return [b ?? null, twice(h), twice(w), c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = upsampleNearest2x((Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D);
      return conv2dSame(x, this.conv.kernel.read() as tf.Tensor4D, this.conv.bias.read() as tf.Tensor1D);
    });
  }

  override getConfig(): LayerConfig {
    return withSeed({ ...super.getConfig() }, this.seed);
  }
}
tf.serialization.registerClass(Upsample);

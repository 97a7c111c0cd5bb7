import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelsOf, firstShape, glorot, type LayerConfig, type LayerKwargs, type SeededLayerArgs, withSeed } from './common.js';
import { conv2dSame, upsampleNearest2x } from './ops.js';

/**
 * What Downsample and Upsample share: a seeded 3×3 conv (kernel + bias, C → C) built from the
 * input's channel count, and the seed in the serialised config. Not registered itself.
 */
abstract class Conv3x3Resample extends tfl.layers.Layer {
  readonly seed: number | undefined;
  protected conv!: { kernel: tfl.LayerVariable; bias: tfl.LayerVariable };

  constructor(args: SeededLayerArgs = {}) {
    super(args);
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const c = channelsOf(firstShape(inputShape), this.name);
    this.conv = {
      kernel: this.addWeight('kernel', [3, 3, c, c], 'float32', glorot(this.seed, 0)),
      bias: this.addWeight('bias', [c], 'float32', tfl.initializers.zeros()),
    };
    this.built = true;
  }

  override getConfig(): LayerConfig {
    return withSeed({ ...super.getConfig() }, this.seed);
  }
}

/** Halves H and W with a stride-2 3×3 conv ('same' padding, as in Ho et al.). Registered for serialisation. */
export class Downsample extends Conv3x3Resample {
  static readonly className = 'Downsample';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [b, h, w, c] = firstShape(inputShape);
    const half = (n: number | null | undefined) => (typeof n === 'number' ? Math.ceil(n / 2) : null);
    return [b ?? null, half(h), half(w), c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: LayerKwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
    return tf.fused.conv2d({ x, filter: this.conv.kernel.read() as tf.Tensor4D, bias: this.conv.bias.read(), strides: 2, pad: 'same' });
  }
}
tf.serialization.registerClass(Downsample);

/**
 * Doubles H and W: nearest-neighbour ×2 (via {@link upsampleNearest2x}, whose gradient is right
 * on every backend) then a 3×3 conv. Registered for serialisation.
 */
export class Upsample extends Conv3x3Resample {
  static readonly className = 'Upsample';

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
}
tf.serialization.registerClass(Upsample);

import { silu } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * SiLU as a layer: `@lab/core`'s `silu`, one LibTorch kernel forward and one backward where the
 * backend has them (tfjs-layers' 'swish' activation is always Sigmoid + Mul and their gradients).
 * Models saved with `activation: 'swish'` layers still load and compute the same function.
 */
export class Silu extends tfl.layers.Layer {
  static readonly className = 'Silu';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return silu(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(Silu);

import type { Denoiser } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/**
 * A UNet as the samplers see it: `(x, t, y?) ↦ ε̂`, run in inference mode. The model's inputs are
 * x, t (float32) and, for a class-conditional UNet, the labels y.
 */
export function unetDenoiser(model: LayersModel): Denoiser {
  return (x, t, y) => model.apply(y ? [x, tf.cast(t, 'float32'), y] : [x, tf.cast(t, 'float32')], { training: false }) as tf.Tensor4D;
}

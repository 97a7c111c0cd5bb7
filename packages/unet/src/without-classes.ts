import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { resolveUNetConfig, type UNetConfig } from './config.js';
import { createUNet } from './unet.js';

/**
 * A class-conditional UNet at its null class, as an unconditional UNet (inputs [x, t]): the same
 * function, without the label input. The conditioning vector is time embedding + the null class's
 * row of the label table; the row is a constant, so it folds into the time embedding's last bias,
 * and every other weight is copied by layer name. Returns a new model and its config (owned by the
 * caller); `model` is left as it was.
 */
export function unconditionalUNet(model: tfl.LayersModel, config: UNetConfig): { model: tfl.LayersModel; config: UNetConfig } {
  const { numClasses, ...rest } = resolveUNetConfig(config);
  if (numClasses === undefined) throw new ValidationError('unconditionalUNet: the UNet has no classes (it is unconditional already)');
  const unconditional = resolveUNetConfig(rest);
  const target = createUNet(unconditional);
  try {
    tf.tidy(() => {
      const table = model.getLayer('label_embedding').getWeights()[0] as tf.Tensor2D;
      const nullRow = tf.reshape(tf.slice(table, [numClasses, 0], [1, -1]), [-1]);
      for (const layer of target.layers) {
        if (layer.weights.length === 0) continue;
        const weights = model.getLayer(layer.name).getWeights();
        // TimeEmbedding's weights: kernel1, bias1, kernel2, bias2 (the output bias).
        if (layer.name === 'time_embedding') weights[3] = tf.add(weights[3] as tf.Tensor, nullRow);
        layer.setWeights(weights);
      }
    });
  } catch (error) {
    target.dispose();
    throw error;
  }
  return { model: target, config: unconditional };
}

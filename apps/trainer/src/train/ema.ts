import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * An exponential moving average of a model's weights, kept in a second model of the same
 * architecture (so it can be sampled from and saved like any model):
 * ema ← decay · ema + (1 − decay) · weights, after every optimiser step.
 */
export class EmaModel {
  constructor(
    readonly source: tfl.LayersModel,
    readonly model: tfl.LayersModel,
    readonly decay: number,
  ) {
    if (!(decay >= 0 && decay < 1)) throw new ValidationError(`EMA decay must be in [0, 1), got ${decay}`);
    if (source.weights.length !== model.weights.length) {
      throw new ValidationError(`EMA model has ${model.weights.length} weights, the trained model ${source.weights.length}`);
    }
  }

  /** Makes the average equal to the current weights (at the start of training). */
  reset(): void {
    this.model.setWeights(this.source.getWeights());
  }

  update(): void {
    const decay = this.decay;
    tf.tidy(() => {
      this.model.weights.forEach((shadow, i) => {
        const current = this.source.weights[i]?.read() as tf.Tensor;
        shadow.write(tf.add(tf.mul(shadow.read(), decay), tf.mul(current, 1 - decay)));
      });
    });
  }
}

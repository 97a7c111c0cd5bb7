import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * An exponential moving average of a model's weights, kept in a second model of the same
 * architecture (so it can be sampled from and saved like any model):
 * ema ← d · ema + (1 − d) · weights, after every optimiser step.
 *
 * With `warmup`, d = min(decay, (1 + n) / (10 + n)) after n updates (as TensorFlow's
 * ExponentialMovingAverage with num_updates): early averages do not drag the random
 * initial weights along, which matters for runs of only hundreds of steps.
 */
export class EmaModel {
  constructor(
    readonly source: tfl.LayersModel,
    readonly model: tfl.LayersModel,
    readonly decay: number,
    readonly warmup = false,
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

  /** The decay used for the update after `updates` earlier ones. */
  decayAt(updates: number): number {
    return this.warmup ? Math.min(this.decay, (1 + updates) / (10 + updates)) : this.decay;
  }

  /** Moves the average towards the current weights; `updates` is how many updates came before. */
  update(updates: number): void {
    const decay = this.decayAt(updates);
    tf.tidy(() => {
      this.model.weights.forEach((shadow, i) => {
        const current = this.source.weights[i]?.read() as tf.Tensor;
        shadow.write(tf.add(tf.mul(shadow.read(), decay), tf.mul(current, 1 - decay)));
      });
    });
  }
}

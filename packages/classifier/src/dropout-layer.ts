import { dropout } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * tfjs-layers' Dropout with the mask drawn by `@lab/core`'s `dropout`: by LibTorch on its device
 * where the torch backend runs, instead of in JavaScript (the `medium` classifier trained at
 * 0.05× of PyTorch's speed on an H200 with JavaScript masks; docs/gpu.md). Saved as `GenlabDropout`; models saved with
 * tfjs-layers' own `Dropout` load and run as before.
 */
export class Dropout extends tfl.layers.Layer {
  static readonly className = 'GenlabDropout';
  readonly rate: number;

  constructor(args: { rate: number; name?: string }) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return kwargs['training'] === true && this.rate > 0 ? dropout(x, this.rate) : x;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(Dropout);

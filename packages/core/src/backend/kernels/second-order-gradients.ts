import * as tf from '@tensorflow/tfjs-core';
import {
  AvgPoolGrad,
  type AvgPoolGradAttrs,
  Exp,
  type GradConfig,
  registerGradient,
  Sigmoid,
  Softmax,
  type SoftmaxAttrs,
  scalar,
  sub,
  Tanh,
  type Tensor,
  type Tensor4D,
} from '@tensorflow/tfjs-core';
import { FUSED_LAYER_GRADIENTS } from '../fused-layers.js';
import { SILU_GRADIENTS } from '../silu.js';

/**
 * Gradients of Exp, Sigmoid, Tanh and Softmax that recompute the op from its input, and the
 * missing gradient of AvgPoolGrad.
 *
 * tfjs 4.22's own gradients use the op's saved *output* (d exp(x) = dy·exp(x) with exp(x) taken
 * from the forward pass). The engine saves outputs as clones taken off the tape, so a gradient
 * of a gradient (∂/∂w of a loss on ∂E/∂x: score matching, gradient penalties) sees them as
 * constants and comes out wrong by 10–100 %. Saved inputs stay on the tape, so recomputing from
 * the input is exact to all orders, at the cost of one more elementwise op in the backward pass.
 * Gradients are global in tfjs (one registry for every backend).
 */
const SECOND_ORDER_GRADIENTS: readonly GradConfig[] = [
  {
    kernelName: Exp,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as Tensor, tf.exp(saved[0] as Tensor)) }),
  },
  {
    kernelName: Sigmoid,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => {
        const s = tf.sigmoid(saved[0] as Tensor);
        return tf.mul(dy as Tensor, tf.mul(s, sub(scalar(1), s)));
      },
    }),
  },
  {
    kernelName: Tanh,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => tf.mul(dy as Tensor, sub(scalar(1), tf.square(tf.tanh(saved[0] as Tensor)))),
    }),
  },
  {
    // Attention's softmax: dx = y·(dy − Σ dy·y) with y recomputed from the logits.
    kernelName: Softmax,
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const { dim } = attrs as unknown as SoftmaxAttrs;
      return {
        logits: () => {
          const y = tf.softmax(saved[0] as Tensor, dim);
          const dyTimesY = tf.mul(dy as Tensor, y);
          return sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
        },
      };
    },
  },
  // tfjs has no gradient for AvgPoolGrad, so nothing with average pooling could take a gradient
  // of a gradient. AvgPoolGrad is linear in dy and the adjoint of avgPool, so its own adjoint is
  // avgPool with the same window; it does not depend on `input`'s values.
  {
    kernelName: AvgPoolGrad,
    inputsToSave: ['input'],
    gradFunc: (ddx, saved, attrs) => {
      const { filterSize, strides, pad } = attrs as unknown as AvgPoolGradAttrs;
      return {
        dy: () => tf.avgPool(ddx as Tensor4D, filterSize, strides, pad as 'valid' | 'same' | number),
        input: () => tf.zerosLike(saved[0] as Tensor),
      };
    },
  },
];

let registered = false;

/**
 * Installs the gradients above and those of genlab's fused SiLU and layer kernels (idempotent).
 * `initBackend` calls it; the kernels whose gradients it sets are listed by name.
 */
export function registerSecondOrderGradients(): readonly string[] {
  const configs = [...SECOND_ORDER_GRADIENTS, ...SILU_GRADIENTS, ...FUSED_LAYER_GRADIENTS];
  if (!registered) {
    for (const config of configs) registerGradient(config);
    registered = true;
  }
  return configs.map((config) => config.kernelName);
}

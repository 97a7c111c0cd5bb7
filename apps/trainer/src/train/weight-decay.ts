import * as tf from '@tensorflow/tfjs-core';

/**
 * Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): every kernel of `variables` shrinks
 * by the factor 1 − rate, with rate = learning rate × decay, before the optimiser step, as
 * PyTorch's AdamW does. Only kernels (rank ≥ 2) decay: biases and batch-norm scales and offsets
 * are left alone, the usual choice, since shrinking them only shifts or rescales activations.
 */
export function decayKernels(variables: readonly tf.Variable[], rate: number): void {
  if (rate === 0) return;
  tf.tidy(() => {
    for (const variable of variables) if (variable.rank >= 2) variable.assign(tf.mul(variable, 1 - rate));
  });
}

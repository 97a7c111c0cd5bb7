import type * as tf from '@tensorflow/tfjs-core';

/** Reads an [N, K] tensor (e.g. class probabilities) as N rows of K numbers, then disposes it. */
export async function readRows(t: tf.Tensor2D): Promise<number[][]> {
  const [n, k] = t.shape;
  try {
    const flat = await t.data();
    return Array.from({ length: n }, (_, i) => Array.from(flat.slice(i * k, (i + 1) * k)));
  } finally {
    t.dispose();
  }
}

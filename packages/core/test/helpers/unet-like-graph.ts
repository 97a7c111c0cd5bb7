import * as tf from '@tensorflow/tfjs-core';
import { seededValues } from './numeric.js';

/**
 * Every op family a diffusion UNet or an energy CNN differentiates through: strided and
 * 1×1 convs, a transposed conv, group norm via moments, SiLU, self-attention (matMul +
 * softmax), concat/slice skips, a label-embedding gather, average pooling, nearest
 * upsampling by broadcast/reshape, and a dense head. Gradients of all parameters and of the
 * input must agree between wasm and cpu.
 */
const SHAPES: Record<string, number[]> = {
  conv1: [3, 3, 3, 8],
  down: [3, 3, 8, 8],
  skip1x1: [1, 1, 8, 8],
  qkv: [8, 24],
  up: [2, 2, 8, 8],
  out: [3, 3, 16, 3],
  gamma: [8],
  beta: [8],
  embed: [4, 8],
  head: [3, 1],
};

function groupNorm(x: tf.Tensor4D, groups: number, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const grouped = tf.reshape(x, [b, h, w, groups, c / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
  const normed = tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(tf.reshape(normed, [b, h, w, c]), gamma), beta) as tf.Tensor4D;
}

const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

function attention(x: tf.Tensor4D, qkvW: tf.Tensor): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const flat = tf.reshape(x, [b, h * w, c]);
  const qkv = tf.matMul(tf.reshape(flat, [b * h * w, c]), qkvW as tf.Tensor2D);
  const [q, k, v] = tf.split(tf.reshape(qkv, [b, h * w, 3 * c]), 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  const weights = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(c)));
  return tf.add(x, tf.reshape(tf.matMul(weights, v), [b, h, w, c])) as tf.Tensor4D;
}

function nearestUpsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  // A broadcasting multiply, not tile/broadcastTo: tfjs 4.22 has no Tile gradient above rank 4.
  const repeated = tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
  return tf.reshape(repeated, [b, 2 * h, 2 * w, c]);
}

function forward(p: Record<string, tf.Tensor>, x: tf.Tensor4D, labels: tf.Tensor1D): tf.Scalar {
  const [b] = x.shape;
  let h = tf.conv2d(x, p.conv1 as tf.Tensor4D, 1, 'same');
  h = tf.add(h, tf.reshape(tf.gather(p.embed as tf.Tensor2D, labels), [b, 1, 1, 8])) as tf.Tensor4D;
  h = silu(groupNorm(h, 2, p.gamma!, p.beta!)) as tf.Tensor4D;
  const skip = h;
  let d = tf.conv2d(h, p.down as tf.Tensor4D, 2, 'same');
  d = tf.add(d, tf.conv2d(tf.avgPool(h, 2, 2, 'valid'), p.skip1x1 as tf.Tensor4D, 1, 'same')) as tf.Tensor4D;
  d = attention(d, p.qkv!);
  const upT = tf.conv2dTranspose(d, p.up as tf.Tensor4D, [b, 8, 8, 8], 2, 'same');
  const upN = nearestUpsample2x(d);
  const merged = tf.concat([tf.add(upT, upN), skip], 3) as tf.Tensor4D;
  const cropped = tf.slice(merged, [0, 1, 1, 0], [b, 6, 6, 16]);
  const out = tf.conv2d(cropped, p.out as tf.Tensor4D, 1, 'valid');
  const pooled = tf.mean(out, [1, 2]);
  const energy = tf.matMul(pooled as tf.Tensor2D, p.head as tf.Tensor2D);
  return tf.add(tf.mean(tf.square(energy)), tf.mean(tf.mul(out, out))) as tf.Scalar;
}

export async function unetLikeGradients(): Promise<Record<string, Float32Array>> {
  const names = Object.keys(SHAPES);
  const params = names.map((name, i) =>
    tf.tensor(
      seededValues(
        SHAPES[name]!.reduce((a, b) => a * b, 1),
        31 + i,
      ),
      SHAPES[name],
    ),
  );
  const x = tf.tensor4d(seededValues(2 * 8 * 8 * 3, 7), [2, 8, 8, 3]);
  const labels = tf.tensor1d([3, 1], 'int32');
  const grads = tf.grads((...args: tf.Tensor[]) => {
    const record = Object.fromEntries(names.map((n, i) => [n, args[i]!]));
    return forward(record, args[names.length] as tf.Tensor4D, labels);
  })([...params, x]);
  const out: Record<string, Float32Array> = {};
  for (const [i, g] of grads.entries()) out[names[i] ?? 'input'] = (await g.data()) as Float32Array;
  tf.dispose([...params, x, labels, ...grads]);
  return out;
}

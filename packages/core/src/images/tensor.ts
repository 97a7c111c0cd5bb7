import * as tf from '@tensorflow/tfjs-core';
import { ValidationError } from '../errors.js';

/**
 * Pixels of an image tensor in [-1, 1] (HWC or NHWC, any channel count) as uint8 in
 * [0, 255]: round((x + 1) · 127.5), clamped. Reads with `await data()`, so it works on
 * every backend.
 */
export async function tensorToUint8(x: tf.Tensor): Promise<Uint8Array> {
  if (x.rank !== 3 && x.rank !== 4) throw new ValidationError(`Expected an HWC or NHWC image tensor, got shape [${x.shape}]`);
  const scaled = tf.tidy(() => tf.clipByValue(tf.round(tf.mul(tf.add(x, 1), 127.5)), 0, 255));
  try {
    return Uint8Array.from(await scaled.data());
  } finally {
    scaled.dispose();
  }
}

/** uint8 pixels (row-major HWC) → a float32 [h, w, c] tensor in [-1, 1]. */
export function uint8ToTensor(pixels: Uint8Array, height: number, width: number, channels: number): tf.Tensor3D {
  if (pixels.length !== height * width * channels) {
    throw new ValidationError(`Expected ${height}×${width}×${channels} = ${height * width * channels} bytes, got ${pixels.length}`);
  }
  const values = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) values[i] = (pixels[i] as number) / 127.5 - 1;
  return tf.tensor3d(values, [height, width, channels]);
}

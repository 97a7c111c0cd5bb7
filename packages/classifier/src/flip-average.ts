import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Test-time flip averaging: runs `run` once on the images and their mirror images (left–right,
 * the flip the classifier was trained with) in one batch of 2B, and returns the mean of the two
 * halves of each output. A classifier's probabilities and features then depend on the image up to
 * that flip only. Each of `run`'s outputs must have one row per image of its 2B batch; call inside
 * `tf.tidy` (the intermediates are left to it).
 */
export function flipAveraged<T extends tf.Tensor[]>(images: tf.Tensor4D, run: (batch: tf.Tensor4D) => T): T {
  const batch = images.shape[0];
  const both = tf.concat([images, tf.reverse(images, 2)], 0) as tf.Tensor4D;
  return run(both).map((output) => {
    if (output.shape[0] !== 2 * batch)
      throw new ValidationError(`flipAveraged: an output has ${output.shape[0]} rows for a batch of ${2 * batch}`);
    const [plain, mirrored] = tf.split(output, 2, 0) as [tf.Tensor, tf.Tensor];
    return tf.mul(tf.add(plain, mirrored), 0.5);
  }) as T;
}

/**
 * Whether a classifier bundle's manifest config asks for flip averaging (`"flipAverage": true`,
 * written by `export --flip-average`). Absent means no; anything but a boolean is refused.
 */
export function usesFlipAverage(config: unknown): boolean {
  const value = (config as { flipAverage?: unknown } | undefined)?.flipAverage;
  if (value === undefined) return false;
  if (typeof value !== 'boolean')
    throw new ValidationError(`a classifier's flipAverage must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

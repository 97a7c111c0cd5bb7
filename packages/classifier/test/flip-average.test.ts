import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createClassifier, flipAveraged, usesFlipAverage } from '../src/index.js';
import { maxAbsDiff, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

describe('flipAveraged', () => {
  it('returns the mean of each output over the images and their left–right mirror images', async () => {
    const [batch, height, width, channels] = [2, 3, 4, 2];
    const values = Float32Array.from({ length: batch * height * width * channels }, (_, i) => Math.sin(i * 1.7) * (i % 5));
    const images = tf.tensor4d(values, [batch, height, width, channels]);
    // Two outputs: the batch itself, and a column-weighted sum per image (changed by a flip).
    const columnWeights = tf.tensor4d([1, 2, 3, 4], [1, 1, width, 1]);
    const [averagedImages, averagedSums] = tf.tidy(() =>
      flipAveraged(images, (x) => [tf.add(x, 0), tf.sum(tf.mul(x, columnWeights), [1, 2, 3])] as [tf.Tensor, tf.Tensor]),
    ) as [tf.Tensor, tf.Tensor];
    // The same by index arithmetic: element (b, h, w, c) and its mirror (b, h, W−1−w, c).
    const at = (b: number, h: number, w: number, c: number) => values[((b * height + h) * width + w) * channels + c] as number;
    const expectedImages: number[] = [];
    const expectedSums = [0, 0];
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < height; h++)
        for (let w = 0; w < width; w++)
          for (let c = 0; c < channels; c++) {
            expectedImages.push((at(b, h, w, c) + at(b, h, width - 1 - w, c)) / 2);
            expectedSums[b] = (expectedSums[b] as number) + ((w + 1) * (at(b, h, w, c) + at(b, h, width - 1 - w, c))) / 2;
          }
    expect(averagedImages.shape).toEqual([batch, height, width, channels]);
    expect(maxAbsDiff(await averagedImages.data(), expectedImages)).toBeLessThan(1e-6);
    expect(maxAbsDiff(await averagedSums.data(), expectedSums)).toBeLessThan(1e-4);
    tf.dispose([images, columnWeights, averagedImages, averagedSums]);
  });

  it('makes a classifier blind to the flip, leaves no tensors behind, and refuses outputs of another batch', async () => {
    const model = createClassifier({
      inputShape: [8, 8, 3],
      numClasses: 10,
      channels: [4],
      featureUnits: 6,
      dropout: 0,
      output: 'softmax',
    });
    const x = tf.randomUniform([3, 8, 8, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const mirrored = tf.reverse(x, 2) as tf.Tensor4D;
    const run = (images: tf.Tensor4D) => tf.tidy(() => flipAveraged(images, (b) => [model.predict(b) as tf.Tensor])[0] as tf.Tensor);
    run(x).dispose();
    const before = tf.memory().numTensors;
    const [a, b] = [run(x), run(mirrored)];
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(1e-6);
    // Not the trivial way: a single view does see the flip.
    const plain = [model.predict(x) as tf.Tensor, model.predict(mirrored) as tf.Tensor];
    expect(maxAbsDiff(await plain[0]!.data(), await plain[1]!.data())).toBeGreaterThan(1e-4);
    expect(() => tf.tidy(() => flipAveraged(x, (batch) => [tf.slice(batch, 0, 3)]))).toThrow(/an output has 3 rows for a batch of 6/);
    tf.dispose([x, mirrored, a, b, ...plain]);
    model.dispose();
  });
});

describe('usesFlipAverage', () => {
  it('reads a bundle config: absent is false, a boolean is itself, anything else is refused', () => {
    expect(usesFlipAverage({ net: {} })).toBe(false);
    expect(usesFlipAverage(undefined)).toBe(false);
    expect(usesFlipAverage({ flipAverage: true })).toBe(true);
    expect(usesFlipAverage({ flipAverage: false })).toBe(false);
    expect(() => usesFlipAverage({ flipAverage: 'yes' })).toThrow(ValidationError);
  });
});

import { FEATURES_LAYER, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createClassifier, featureExtractor, resolveClassifierConfig } from '../src/index.js';
import { maxAbsDiff, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

describe('createClassifier', () => {
  it('small preset: 32×32×3 → 10 probabilities, with a 128-wide `features` layer', async () => {
    const model = createClassifier('small');
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1);
    const probs = model.predict(x) as tf.Tensor;
    expect(probs.shape).toEqual([2, 10]);
    const values = await probs.data();
    for (let i = 0; i < 2; i++) expect(Array.from(values.slice(i * 10, i * 10 + 10)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const features = featureExtractor(model);
    const phi = features.predict(x) as tf.Tensor;
    expect(phi.shape).toEqual([2, 128]);
    // Shared weights: the last Dense applied to the extracted features gives the model's output.
    const [kernel, bias] = model.getLayer('probabilities').getWeights();
    const again = tf.softmax(tf.add(tf.matMul(phi as tf.Tensor2D, kernel as tf.Tensor2D), bias as tf.Tensor));
    expect(maxAbsDiff(await again.data(), values)).toBeLessThan(1e-5);
    tf.dispose([x, probs, phi, again]);
    model.dispose();
  });

  it('wide preset: a stem at full resolution, stages that pool after their first conv, the parameters of that layout', () => {
    const model = createClassifier('wide');
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
    // Stem 32 at 32×32; each stage's first conv at its input resolution, its second at half.
    expect(convs.map((l) => (l.outputShape as number[]).slice(1))).toEqual([
      [32, 32, 32],
      [32, 32, 64],
      [16, 16, 64],
      [16, 16, 256],
      [8, 8, 256],
      [8, 8, 256],
      [4, 4, 256],
    ]);
    expect(model.layers.some((l) => l.getClassName() === 'GenlabDropout')).toBe(false);
    // 3×3 convs without bias, batch norm (4 per channel), features and output dense layers.
    const ins = [3, 32, 64, 64, 256, 256, 256];
    const outs = [32, 64, 64, 256, 256, 256, 256];
    const convParams = ins.reduce((sum, c, i) => sum + 9 * c * (outs[i] as number) + 4 * (outs[i] as number), 0);
    expect(model.countParams()).toBe(convParams + (256 * 256 + 256) + (256 * 10 + 10));
    model.dispose();
  });

  it('pool defaults to after-stage: the small preset keeps its VGG layout', () => {
    const model = createClassifier('small');
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
    expect(convs.map((l) => (l.outputShape as number[])[1])).toEqual([32, 32, 16, 16, 8, 8]);
    model.dispose();
  });

  it("dropout draws through @lab/core's dropout: inverted dropout in training, identity otherwise, saved as GenlabDropout", async () => {
    const model = createClassifier({ ...resolveClassifierConfig('small'), dropout: 0.5, seed: 1 });
    const dropouts = model.layers.filter((l) => l.getClassName() === 'GenlabDropout');
    expect(dropouts.length).toBe(resolveClassifierConfig('small').channels.length + 1);
    const layer = dropouts[0]!;
    const x = tf.ones([2, 8, 8, 4]);
    const trained = layer.apply(x, { training: true }) as tf.Tensor;
    const values = Array.from(await trained.data());
    expect(values.every((v) => v === 0 || Math.abs(v - 2) < 1e-6)).toBe(true);
    expect(values.filter((v) => v === 0).length).toBeGreaterThan(0);
    expect(values.filter((v) => v !== 0).length).toBeGreaterThan(0);
    const inference = layer.apply(x) as tf.Tensor;
    expect(maxAbsDiff(await inference.data(), await x.data())).toBe(0);
    // A saved topology rebuilds with the same layers.
    const rebuilt = await tfl.models.modelFromJSON(model.toJSON(null, false) as tf.io.ModelArtifacts['modelTopology'] as never);
    expect(rebuilt.layers.filter((l) => l.getClassName() === 'GenlabDropout').length).toBe(dropouts.length);
    tf.dispose([x, trained, inference]);
    model.dispose();
    rebuilt.dispose();
  });

  it('fits a small labelled batch (the architecture trains)', async () => {
    const model = createClassifier({
      inputShape: [8, 8, 3],
      channels: [4, 8],
      featureUnits: 8,
      dropout: 0,
      numClasses: 4,
      output: 'logits',
      seed: 3,
    });
    const x = tf.randomUniform([8, 8, 8, 3], -1, 1, 'float32', 2);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4);
    const optimizer = tf.train.adam(0.02);
    // Training-mode loss (batch statistics): 20 steps are too few for the moving averages to settle.
    const loss = () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const first = (await tf.tidy(loss).data())[0] as number;
    for (let i = 0; i < 20; i++) optimizer.minimize(loss, true)?.dispose();
    const last = (await tf.tidy(loss).data())[0] as number;
    expect(first).toBeGreaterThan(1); // ≈ ln 4 at the start
    expect(last).toBeLessThan(first * 0.5);
    tf.dispose([x, labels]);
    model.dispose();
    optimizer.dispose();
  });

  it('featureExtractor works on any model with a features layer, and errors without one', () => {
    const other = tfl.sequential({
      layers: [tfl.layers.dense({ units: 3, inputShape: [2], name: FEATURES_LAYER }), tfl.layers.dense({ units: 1 })],
    });
    expect(featureExtractor(other).outputs[0]?.shape).toEqual([null, 3]);
    const plain = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [2] })] });
    expect(() => featureExtractor(plain)).toThrow(ValidationError);
    plain.dispose();
    expect(() => resolveClassifierConfig({ dropout: 1 })).toThrow(ValidationError);
    expect(() => resolveClassifierConfig({ channels: [] })).toThrow(ValidationError);
    expect(() => resolveClassifierConfig({ pool: 'before-stage' as never })).toThrow(/pool must be/);
    expect(() => resolveClassifierConfig({ stem: 1.5 })).toThrow(/stem must be/);
    expect(() => resolveClassifierConfig('huge' as never)).toThrow(/Unknown classifier preset 'huge'/);
    other.dispose();
  });
});

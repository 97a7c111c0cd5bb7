import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import {
  countParams,
  createUNet,
  describeUNet,
  resolveUNetConfig,
  UNET_BOTTLENECK_LAYER,
  UNET_PRESETS,
  type UNetConfigInput,
  unconditionalUNet,
} from '../src/index.js';
import { expectTensorCountFlat, MICRO, maxAbsDiff, randomTensor, roundTrip, useFastBackend } from './helpers.js';

beforeAll(async () => {
  await useTestBackend(); // on cpu, also installs core's fast Conv2DBackpropFilter
});

async function values(t: tf.Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

describe('presets', () => {
  beforeAll(useFastBackend);
  afterAll(useTestBackend);

  it('tiny: ≈0.6M parameters, output shaped like x', async () => {
    const model = createUNet('tiny');
    expect(countParams(model)).toBeGreaterThan(0.55e6);
    expect(countParams(model)).toBeLessThan(0.65e6);
    const x = randomTensor([2, 32, 32, 3], 1);
    const t = tf.tensor1d([3, 900]);
    const out = model.predict([x, t]) as tf.Tensor;
    expect(out.shape).toEqual([2, 32, 32, 3]);
    expect((await out.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, t, out]);
    model.dispose();
  });

  it('small: ≈6M parameters, output shaped like x', async () => {
    const model = createUNet('small');
    expect(countParams(model)).toBeGreaterThan(5.5e6);
    expect(countParams(model)).toBeLessThan(7e6);
    const x = randomTensor([1, 32, 32, 3], 2);
    const t = tf.tensor1d([10]);
    const out = model.predict([x, t]) as tf.Tensor;
    expect(out.shape).toEqual([1, 32, 32, 3]);
    tf.dispose([x, t, out]);
    model.dispose();
  });

  it("ddpm-cifar10: Ho et al.'s 35.7M parameters (built, not run)", () => {
    const model = createUNet('ddpm-cifar10');
    const params = countParams(model);
    expect(Math.abs(params - 35.7e6) / 35.7e6).toBeLessThan(0.01);
    // The exact count an independent port of Ho et al.'s network asserts for the same architecture.
    expect(params).toBe(35_746_307);
    expect(model.outputs[0]!.shape).toEqual([null, 32, 32, 3]);
    model.dispose();
  });

  it('presets resolve to the documented architectures', () => {
    const ho = resolveUNetConfig('ddpm-cifar10');
    expect([ho.baseChannels, ho.channelMults, ho.numResBlocks, ho.attentionResolutions, ho.dropout]).toEqual([
      128,
      [1, 2, 2, 2],
      2,
      [16],
      0.1,
    ]);
    expect(resolveUNetConfig({ preset: 'small', numClasses: 10 }).numClasses).toBe(10);
    expect(UNET_PRESETS.small.numClasses).toBeUndefined(); // resolving never mutates a preset
  });
});

describe('createUNet', () => {
  it('three stride-2 downsamplings of 64×64 give an 8×8 bottleneck', async () => {
    const config: UNetConfigInput = {
      imageSize: 64,
      inChannels: 3,
      baseChannels: 4,
      channelMults: [1, 1, 2, 2],
      numResBlocks: 1,
      groups: 2,
    };
    expect(describeUNet(config).bottleneck).toEqual([8, 8, 8]);
    expect(describeUNet(config).levels.map((l) => l.resolution)).toEqual([64, 32, 16, 8]);
    const model = createUNet(config);
    // Run the real graph up to the bottleneck layer and read the shape of what comes out.
    const toBottleneck = tfl.model({ inputs: model.inputs, outputs: model.getLayer(UNET_BOTTLENECK_LAYER).output as tfl.SymbolicTensor });
    const x = randomTensor([1, 64, 64, 3], 3);
    const t = tf.tensor1d([5]);
    const bottleneck = toBottleneck.predict([x, t]) as tf.Tensor;
    expect(bottleneck.shape).toEqual([1, 8, 8, 8]);
    const out = model.predict([x, t]) as tf.Tensor;
    expect(out.shape).toEqual([1, 64, 64, 3]);
    tf.dispose([x, t, bottleneck, out]);
  });

  it('the output depends on t and on y; the null class is accepted; predict is deterministic', async () => {
    const model = createUNet(MICRO);
    const x = randomTensor([2, 8, 8, 3], 4);
    const y = tf.tensor1d([0, 1], 'int32');
    const run = (ts: number[], labels: tf.Tensor) => values(model.predict([x, tf.tensor1d(ts), labels]) as tf.Tensor);
    const base = await run([10, 10], y);
    expect(await run([10, 10], y)).toEqual(base);
    expect(maxAbsDiff(await run([600, 600], y), base)).toBeGreaterThan(1e-2);
    const nullLabels = tf.tensor1d([3, 3], 'int32');
    expect(maxAbsDiff(await run([10, 10], nullLabels), base)).toBeGreaterThan(1e-2);
    // Rank-2 [B, 1] timesteps and labels mean the same as rank 1.
    expect(await values(model.predict([x, tf.tensor2d([10, 10], [2, 1]), tf.tensor2d([0, 1], [2, 1], 'int32')]) as tf.Tensor)).toEqual(
      base,
    );
    // apply() on rank-1 inputs (the training path) agrees with predict().
    expect(maxAbsDiff(await values(model.apply([x, tf.tensor1d([10, 10]), y]) as tf.Tensor), base)).toBeLessThan(1e-6);
  });

  it('save → load gives identical outputs', async () => {
    const model = createUNet(MICRO);
    const loaded = await roundTrip(model);
    const inputs = [randomTensor([2, 8, 8, 3], 5), tf.tensor1d([1, 999]), tf.tensor1d([2, 3], 'int32')];
    expect(await values(loaded.predict(inputs) as tf.Tensor)).toEqual(await values(model.predict(inputs) as tf.Tensor));
    expect(countParams(loaded)).toBe(countParams(model));
  });

  it('a seed fixes the initial weights', async () => {
    const weights = async (seed: number) =>
      values(
        tf.concat(
          createUNet({ ...MICRO, seed })
            .getWeights()
            .map((w) => tf.reshape(w, [-1])),
        ),
      );
    const a = await weights(1);
    expect(await weights(1)).toEqual(a);
    expect(maxAbsDiff(await weights(2), a)).toBeGreaterThan(0.01);
  });

  it('unconditionalUNet: the same function as the null class, without the label input', async () => {
    const conditional = createUNet(MICRO);
    const x = randomTensor([2, 8, 8, 3], 7);
    const t = tf.tensor1d([3, 700]);
    const before = tf.memory().numTensors;
    const { model, config } = unconditionalUNet(conditional, resolveUNetConfig(MICRO));
    // Only the new model's weights stay alive.
    expect(tf.memory().numTensors - before).toBe(model.weights.length);
    expect(config.numClasses).toBeUndefined();
    expect(model.inputs.length).toBe(2);
    const atNullClass = await values(conditional.predict([x, t, tf.tensor1d([3, 3], 'int32')]) as tf.Tensor);
    const withoutLabels = await values(model.predict([x, t]) as tf.Tensor);
    expect(maxAbsDiff(withoutLabels, atNullClass)).toBeLessThan(1e-5);
    // …and not the function of a real class: the null row did matter.
    const atClassZero = await values(conditional.predict([x, t, tf.tensor1d([0, 0], 'int32')]) as tf.Tensor);
    expect(maxAbsDiff(withoutLabels, atClassZero)).toBeGreaterThan(1e-2);
    expect(() => unconditionalUNet(model, config)).toThrow(/unconditional already/);
    model.dispose();
  });

  it('leaks no tensors across repeated predictions and gradient steps', async () => {
    const model = createUNet(MICRO);
    const inputs = [randomTensor([2, 8, 8, 3], 6), tf.tensor1d([4, 8]), tf.tensor1d([0, 2], 'int32')];
    const step = () => {
      tf.dispose(model.predict(inputs) as tf.Tensor);
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(model.apply(inputs, { training: true }) as tf.Tensor)) as tf.Scalar,
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    expectTensorCountFlat(step);
  });

  it('rejects bad configs with ValidationError', () => {
    expect(() => createUNet('huge' as 'tiny')).toThrow(ValidationError);
    expect(() => createUNet({ ...MICRO, groups: 3 })).toThrow(/groups/);
    expect(() => createUNet({ ...MICRO, imageSize: 6, channelMults: [1, 2, 2] })).toThrow(/imageSize/);
    expect(() => createUNet({ ...MICRO, numHeads: 3 })).toThrow(ValidationError);
    expect(() => createUNet({ ...MICRO, dropout: 1 })).toThrow(ValidationError);
    expect(() => createUNet({ imageSize: 8 })).toThrow(ValidationError);
  });
});

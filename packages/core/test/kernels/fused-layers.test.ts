import '@tensorflow/tfjs-backend-cpu';
// Registers tfjs's own gradients, as every genlab model import does.
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONV2D_BIAS_ACTIVATION_KERNEL, hasFusedKernel } from '../../src/backend/fused-kernels.js';
import { conv2dBiasActivation, denseBiasActivation, type LayerActivation } from '../../src/backend/fused-layers.js';
import { registerSecondOrderGradients } from '../../src/backend/kernels/second-order-gradients.js';
import { silu } from '../../src/backend/silu.js';
import { ValidationError } from '../../src/errors.js';
import { onBackend, relativeError, seededValues } from '../helpers/numeric.js';

/** The torch backend, when its addon is built here (an optional dependency of this package). */
const torch = await import('@lab/backend-torch')
  .then((m) => m.torchStatus())
  .catch((error: Error) => ({ available: false as const, reason: error.message }));
const torchSuite = torch.available ? describe : describe.skip;
if (!torch.available) console.warn(`fused layer kernels on torch: skipped (${torch.reason})`);

const tensor = (shape: number[], seed: number, scale = 1) =>
  tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ).map((v) => v * scale),
    shape,
  );

interface ConvCase {
  readonly name: string;
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: number;
  readonly pad: 'same' | 'valid';
  readonly activation: LayerActivation;
}

// Batch 2 (tfjs bugs hide at batch 1); stride 2 'same' on even sizes pads asymmetrically in tfjs.
const CONV_CASES: readonly ConvCase[] = [
  { name: 'stride 2, same, silu (the energy net)', x: [2, 6, 6, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same', activation: 'silu' },
  { name: '5×5 stride 2, same, silu', x: [2, 8, 8, 2], filter: [5, 5, 2, 3], strides: 2, pad: 'same', activation: 'silu' },
  { name: 'stride 1, valid, linear', x: [2, 5, 5, 2], filter: [3, 3, 2, 3], strides: 1, pad: 'valid', activation: 'linear' },
];

/** L = Σ w·layer(x) for fixed weights w: its gradients with respect to every input, and its value. */
function convGradients({ x, filter, strides, pad, activation }: ConvCase): () => tf.Tensor[] {
  return () => {
    const inputs = [tensor(x, 1), tensor(filter, 2, 0.5), tensor([filter[3]], 3, 0.1)];
    const loss = (xs: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => {
      const y = conv2dBiasActivation(xs as tf.Tensor4D, f as tf.Tensor4D, b as tf.Tensor1D, { strides, pad, activation });
      return tf.sum(tf.mul(y, tensor(y.shape, 4)));
    };
    const { value, grads } = tf.valueAndGrads(loss)(inputs);
    return [value, ...grads];
  };
}

/** The same for a dense layer. */
function denseGradients(activation: LayerActivation): () => tf.Tensor[] {
  return () => {
    const inputs = [tensor([3, 5], 5), tensor([5, 4], 6, 0.5), tensor([4], 7, 0.1)];
    const loss = (xs: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(denseBiasActivation(xs as tf.Tensor2D, k as tf.Tensor2D, b as tf.Tensor1D, activation), tensor([3, 4], 8)));
    const { value, grads } = tf.valueAndGrads(loss)(inputs);
    return [value, ...grads];
  };
}

/** ‖∂E/∂x − t‖² for E = Σ silu-conv(x): a score-matching loss, differentiated in the filter (a gradient of a gradient). */
function scoreLossFilterGradient(): tf.Tensor {
  const x = tensor([2, 6, 6, 2], 9);
  const target = tensor([2, 6, 6, 2], 10);
  const bias = tensor([3], 11, 0.1);
  const scoreLoss = (filter: tf.Tensor) => {
    const energy = (xs: tf.Tensor) =>
      tf.sum(
        conv2dBiasActivation(xs as tf.Tensor4D, filter as tf.Tensor4D, bias as tf.Tensor1D, {
          strides: 2,
          pad: 'same',
          activation: 'silu',
        }),
      );
    return tf.sum(tf.square(tf.sub(tf.grad(energy)(x), target)));
  };
  return tf.grad(scoreLoss)(tensor([3, 3, 2, 3], 12, 0.5));
}

async function values(compute: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const result = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return result;
}

/** Each of `actual` within 1e-5 (relative to its largest value) of `expected`. */
function expectClose(actual: Float32Array[], expected: Float32Array[]): void {
  expect(actual).toHaveLength(expected.length);
  for (const [i, reference] of expected.entries()) {
    expect(relativeError(actual[i] as Float32Array, reference), `output ${i}`).toBeLessThan(1e-5);
  }
}

describe('conv2dBiasActivation and denseBiasActivation without fused kernels (tfjs ops)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('compute act(conv2d(x) + b) and act(x·W + b) as tfjs does', async () => {
    expect(hasFusedKernel(CONV2D_BIAS_ACTIVATION_KERNEL)).toBe(false);
    const [fused, reference] = await Promise.all([
      values(() =>
        conv2dBiasActivation(
          tensor([2, 6, 6, 3], 1) as tf.Tensor4D,
          tensor([3, 3, 3, 4], 2) as tf.Tensor4D,
          tensor([4], 3) as tf.Tensor1D,
          {
            strides: 2,
            pad: 'same',
            activation: 'silu',
          },
        ),
      ),
      values(() => {
        const z = tf.add(
          tf.conv2d(tensor([2, 6, 6, 3], 1) as tf.Tensor4D, tensor([3, 3, 3, 4], 2) as tf.Tensor4D, 2, 'same'),
          tensor([4], 3),
        );
        return tf.mul(z, tf.sigmoid(z));
      }),
    ]);
    expect(relativeError(fused[0] as Float32Array, reference[0] as Float32Array)).toBeLessThan(1e-6);
    const [dense] = await values(() =>
      denseBiasActivation(tensor([3, 5], 5) as tf.Tensor2D, tensor([5, 4], 6) as tf.Tensor2D, tensor([4], 7) as tf.Tensor1D, 'linear'),
    );
    const [plain] = await values(() => tf.add(tf.matMul(tensor([3, 5], 5), tensor([5, 4], 6)), tensor([4], 7)));
    expect(relativeError(dense as Float32Array, plain as Float32Array)).toBeLessThan(1e-6);
  });

  it('refuse an activation they do not fuse', () => {
    const x = tf.zeros([1, 2]) as tf.Tensor2D;
    expect(() => denseBiasActivation(x, tf.zeros([2, 2]) as tf.Tensor2D, tf.zeros([2]) as tf.Tensor1D, 'relu' as LayerActivation)).toThrow(
      ValidationError,
    );
    x.dispose();
  });
});

torchSuite('the fused layer kernels on LibTorch, against tfjs ops on cpu', () => {
  beforeAll(async () => {
    await import('@lab/backend-torch');
    registerSecondOrderGradients();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const testCase of CONV_CASES) {
    it(`conv (${testCase.name}): the value and the gradients in x, the filter and the bias`, async () => {
      const cpu = await onBackend('cpu', () => values(convGradients(testCase)));
      const fused = await onBackend('torch', async () => {
        expect(hasFusedKernel(CONV2D_BIAS_ACTIVATION_KERNEL)).toBe(true);
        return values(convGradients(testCase));
      });
      expectClose(fused, cpu);
    });
  }

  for (const activation of ['silu', 'linear'] as const) {
    it(`dense (${activation}): the value and the gradients in x, the kernel and the bias`, async () => {
      const cpu = await onBackend('cpu', () => values(denseGradients(activation)));
      const fused = await onBackend('torch', () => values(denseGradients(activation)));
      expectClose(fused, cpu);
    });
  }

  it('differentiates twice: a score-matching loss through a fused SiLU convolution, in its filter', async () => {
    const [cpu] = await onBackend('cpu', () => values(scoreLossFilterGradient));
    const [fused] = await onBackend('torch', () => values(scoreLossFilterGradient));
    expect(Math.max(...Array.from(cpu as Float32Array, Math.abs))).toBeGreaterThan(1e-3);
    expect(relativeError(fused as Float32Array, cpu as Float32Array)).toBeLessThan(1e-4);
  });

  it('leaves no tensor behind, in tfjs or in LibTorch, over repeated training steps', async () => {
    const native = (await import('@lab/backend-torch')).loadNative();
    await onBackend('torch', async () => {
      const filter = tf.variable(tensor([3, 3, 3, 4], 2, 0.5));
      const bias = tf.variable(tensor([4], 3, 0.1));
      const x = tensor([2, 6, 6, 3], 1);
      const step = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(
            () =>
              tf.sum(
                silu(
                  conv2dBiasActivation(x as tf.Tensor4D, filter as tf.Tensor4D, bias as tf.Tensor1D, {
                    strides: 2,
                    pad: 'same',
                    activation: 'silu',
                  }),
                ),
              ),
            [filter, bias],
          );
          filter.assign(tf.sub(filter, tf.mul(grads[filter.name] as tf.Tensor, 0.01)));
          bias.assign(tf.sub(bias, tf.mul(grads[bias.name] as tf.Tensor, 0.01)));
          value.dataSync();
        });
      step();
      const [tensors, live] = [tf.memory().numTensors, native.liveTensors()];
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(native.liveTensors()).toBe(live);
      tf.dispose([filter, bias, x]);
    });
  });
});

import { selectBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { addKeepingNothing, conv2dSame, createUNet, matMul2d } from '../src/index.js';
import { expectTensorCountFlat, MICRO_UNCONDITIONAL, randomTensor } from './helpers.js';

// Every backend that can start here; wasm needs core's training kernels (selectBackend installs them).
// torch (where the addon is built) runs group norm as one fused LibTorch kernel each way.
const BACKENDS = ['cpu', 'wasm', 'torch'] as const;
const available = new Map<string, boolean>();
for (const name of BACKENDS)
  available.set(
    name,
    await selectBackend({ force: name }).then(
      () => true,
      () => false,
    ),
  );

/** Σ over tensors of ⟨a_i, b_i⟩. */
async function dot(a: tf.Tensor[], b: tf.Tensor[]): Promise<number> {
  const s = tf.tidy(() => tf.addN(a.map((t, i) => tf.sum(tf.mul(t, b[i]!)))));
  const v = (await s.data())[0]!;
  s.dispose();
  return v;
}

/** Scales a list of tensors to unit total norm. */
function normalise(ts: tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(ts.map((t) => tf.sum(tf.square(t)))));
    return ts.map((t) => tf.div(t, norm));
  });
}

/**
 * Compares the analytic directional derivative ⟨∇L, d⟩ with the central difference
 * (L(θ + εd) − L(θ − εd)) / 2ε (ε = `eps`) along two unit directions: the gradient's own and a random one.
 * Returns the largest error as a fraction of ‖∇L‖.
 */
async function directionalError(
  grads: tf.Tensor[],
  lossAt: (offset: tf.Tensor[], sign: number) => Promise<number>,
  seed: number,
  eps = 1e-2,
): Promise<number> {
  const gradNorm = Math.sqrt(await dot(grads, grads));
  expect(gradNorm).toBeGreaterThan(1e-3);
  let worst = 0;
  const directions = [normalise(grads), normalise(grads.map((g, i) => randomTensor(g.shape, seed + i)))];
  for (const d of directions) {
    const analytic = await dot(grads, d);
    const step = d.map((t) => tf.mul(t, eps));
    const numeric = ((await lossAt(step, 1)) - (await lossAt(step, -1))) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - analytic) / gradNorm);
    tf.dispose([...d, ...step]);
  }
  return worst;
}

/** Reads a scalar loss and disposes it. */
async function read(s: tf.Scalar): Promise<number> {
  const v = (await s.data())[0]!;
  s.dispose();
  return v;
}

/**
 * {@link directionalError} of a model's weight gradient: `loss` is evaluated with every trainable
 * weight moved along the direction, then the weights are put back.
 */
async function weightsDirectionalError(model: tfl.LayersModel, loss: () => tf.Scalar, seed: number, eps?: number): Promise<number> {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(loss, variables);
  const originals = variables.map((v) => tf.clone(v));
  const error = await directionalError(
    variables.map((v) => grads[v.name]!),
    async (offset, sign) => {
      variables.forEach((v, i) => {
        v.assign(tf.tidy(() => tf.add(originals[i]!, tf.mul(offset[i]!, sign))));
      });
      const l = await read(loss());
      variables.forEach((v, i) => {
        v.assign(originals[i]!);
      });
      return l;
    },
    seed,
    eps,
  );
  tf.dispose([value, ...Object.values(grads), ...originals]);
  return error;
}

describe.each(BACKENDS)('gradients on %s', (backend) => {
  it.skipIf(!available.get(backend))('match central finite differences at batch 2 (input and all weights)', async () => {
    await selectBackend({ force: backend });
    // Two levels (so Downsample and Upsample are on the path), 2-head attention, class labels.
    const model = createUNet({
      imageSize: 8,
      inChannels: 3,
      baseChannels: 8,
      channelMults: [1, 2],
      numResBlocks: 1,
      attentionResolutions: [8, 4],
      numHeads: 2,
      groups: 4,
      numClasses: 3,
      seed: 21,
    });
    const x = randomTensor([2, 8, 8, 3], 1);
    const t = tf.tensor1d([3, 700]);
    const y = tf.tensor1d([1, 3], 'int32');
    const R = randomTensor([2, 8, 8, 3], 2);
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(model.apply([input, t, y]) as tf.Tensor, R)) as tf.Scalar;

    const gx = tf.grad(loss)(x);
    const inputError = await directionalError([gx], (offset, sign) => read(tf.tidy(() => loss(tf.add(x, tf.mul(offset[0]!, sign))))), 100);
    expect(inputError).toBeLessThan(5e-3);

    const weightError = await weightsDirectionalError(model, () => tf.tidy(() => loss(x)), 200);
    expect(weightError).toBeLessThan(5e-3);
    tf.dispose([x, t, y, R, gx]);
    model.dispose();
  });

  it.skipIf(!available.get(backend))(
    'second order: ∂/∂w of a loss on ∂E/∂x, E = ½‖x − UNet(x)‖², matches central differences at batch 2',
    async () => {
      // The shape of score matching with an energy built on the UNet: every layer (group norm,
      // attention's softmax, SiLU, up- and downsampling, the time embedding's scale and shift) is
      // differentiated twice. tfjs's own Softmax gradient and group norm's saved statistics (or its
      // fused gradient kernel) would be wrong or missing here.
      await selectBackend({ force: backend });
      const model = createUNet({ ...MICRO_UNCONDITIONAL, dropout: 0, seed: 3 });
      const x = randomTensor([2, 8, 8, 3], 11);
      const t = tf.tensor1d([3, 600]);
      const target = randomTensor([2, 8, 8, 3], 12);
      const scoreLoss = () =>
        tf.tidy(() => {
          const energy = (input: tf.Tensor) => tf.mul(tf.sum(tf.square(tf.sub(input, model.apply([input, t]) as tf.Tensor))), 0.5);
          return tf.sum(tf.square(tf.sub(tf.grad(energy)(x), target))) as tf.Scalar;
        });
      // A loss on a gradient curves more: at ε = 1e-2 central differences alone are ~0.35 % off.
      const error = await weightsDirectionalError(model, scoreLoss, 300, 3e-3);
      // Stock Softmax gradients give ~1 %; group norm with its saved statistics ~5 % (its fused
      // LibTorch gradient kernel has no gradient at all).
      expect(error).toBeLessThan(2e-3);
      tf.dispose([x, t, target]);
      model.dispose();
    },
  );

  it.skipIf(!available.get(backend))('matMul2d has the gradient of tf.matMul', async () => {
    await selectBackend({ force: backend });
    const a = randomTensor([5, 3], 3) as tf.Tensor2D;
    const b = randomTensor([3, 4], 4) as tf.Tensor2D;
    const G = randomTensor([5, 4], 5);
    const ours = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(matMul2d(p as tf.Tensor2D, q as tf.Tensor2D), G)))([a, b]);
    const stock = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D), G)))([a, b]);
    for (let i = 0; i < 2; i++) {
      const diff = await tf.max(tf.abs(tf.sub(ours[i]!, stock[i]!))).data();
      expect(diff[0]).toBeLessThan(1e-5);
    }
  });

  it.skipIf(!available.get(backend))('conv2dSame has the gradient of tf.conv2d (3×3 and 1×1)', async () => {
    await selectBackend({ force: backend });
    for (const k of [3, 1]) {
      const x = randomTensor([2, 5, 4, 3], 6) as tf.Tensor4D;
      const w = randomTensor([k, k, 3, 4], 7) as tf.Tensor4D;
      const b = randomTensor([4], 8) as tf.Tensor1D;
      const G = randomTensor([2, 5, 4, 4], 9);
      const loss = (conv: (p: tf.Tensor4D, q: tf.Tensor4D, r: tf.Tensor1D) => tf.Tensor) => (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
        tf.sum(tf.mul(conv(p as tf.Tensor4D, q as tf.Tensor4D, r as tf.Tensor1D), G));
      const ours = tf.grads(loss(conv2dSame))([x, w, b]);
      const stock = tf.grads(loss((p, q, r) => tf.add(tf.conv2d(p, q, 1, 'same'), r)))([x, w, b]);
      for (let i = 0; i < 3; i++) {
        const diff = await tf.max(tf.abs(tf.sub(ours[i]!, stock[i]!))).data();
        expect(diff[0]).toBeLessThan(1e-4);
      }
    }
  });

  it.skipIf(!available.get(backend))("addKeepingNothing has tf.add's values and gradients, broadcast included", async () => {
    await selectBackend({ force: backend });
    const a = randomTensor([2, 3, 4, 5], 11);
    const G = randomTensor([2, 3, 4, 5], 12);
    for (const shape of [
      [2, 3, 4, 5],
      [2, 1, 1, 5],
    ]) {
      const b = randomTensor(shape, 13);
      const loss = (add: (p: tf.Tensor, q: tf.Tensor) => tf.Tensor) => (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(add(p, q), G));
      const ours = tf.grads(loss(addKeepingNothing))([a, b]);
      const stock = tf.grads(loss(tf.add))([a, b]);
      for (let i = 0; i < 2; i++) {
        expect(ours[i]!.shape).toEqual(stock[i]!.shape);
        const diff = await tf.max(tf.abs(tf.sub(ours[i]!, stock[i]!))).data();
        expect(diff[0]).toBeLessThan(1e-5);
      }
      const sum = addKeepingNothing(a, b);
      expect(await sum.data()).toEqual(await tf.add(a, b).data());
      tf.dispose([b, sum, ...ours, ...stock]);
    }
  });

  it.skipIf(!available.get(backend))(
    'the backward pass keeps no input of addKeepingNothing, and only the input and filter of conv2dSame',
    async () => {
      await selectBackend({ force: backend });
      const x = randomTensor([2, 5, 4, 3], 14) as tf.Tensor4D;
      const perChannel = randomTensor([2, 1, 1, 3], 15);
      const filter = randomTensor([3, 3, 3, 4], 16) as tf.Tensor4D;
      const bias = randomTensor([4], 17) as tf.Tensor1D;
      /** Tensors alive after `op` runs under the gradient tape: its output plus what the tape keeps. */
      const heldBy = (op: () => tf.Tensor) => {
        let held = 0;
        // `op` reads x, which is what the gradient is taken with respect to.
        const grad = tf.grad(() => {
          const before = tf.memory().numTensors;
          const y = op();
          held = tf.memory().numTensors - before;
          return tf.sum(y);
        })(x);
        grad.dispose();
        return held;
      };
      // tf.add keeps copies of both inputs; tf.fused.conv2d keeps x, the filter, its output and the bias.
      expect(heldBy(() => tf.add(x, perChannel))).toBe(3);
      expect(heldBy(() => addKeepingNothing(x, perChannel))).toBe(1);
      expect(heldBy(() => tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'same' }))).toBe(5);
      expect(heldBy(() => conv2dSame(x, filter, bias))).toBe(3);
      tf.dispose([x, perChannel, filter, bias]);
    },
  );

  it.skipIf(!available.get(backend))('training steps leak no tensors', async () => {
    await selectBackend({ force: backend });
    const model = createUNet(MICRO_UNCONDITIONAL);
    const inputs = [randomTensor([2, 8, 8, 3], 10), tf.tensor1d([4, 8])];
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(model.apply(inputs, { training: true }) as tf.Tensor)) as tf.Scalar,
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    expectTensorCountFlat(step);
    tf.dispose(inputs);
    model.dispose();
  });
});

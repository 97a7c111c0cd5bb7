import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The Chromium/WebGPU harness is core's (its kernels are tested the same way).
import { hasChromium, openWebgpuPage, type WebgpuSession } from '../../core/test/helpers/chromium-webgpu.js';
import { relativeL2Error } from '../../core/test/helpers/numeric.js';
import { createUNet } from '../src/unet.js';
import { MICRO, randomArray } from './helpers.js';
import type { UNetWebgpuPage } from './webgpu-page.js';

if (!hasChromium) console.warn('SKIPPED UNet webgpu test: /usr/bin/chromium is absent (apt-get install -y chromium)');

// The whole backward pass of a class-conditional UNet (GroupNorm's closed-form gradient, attention,
// up/down-sampling, the label and time embeddings) on tfjs-backend-webgpu, in Chromium's SwiftShader
// adapter, against the cpu backend (whose gradients gradients.test.ts checks by finite differences).
describe.skipIf(!hasChromium)('UNet gradients on webgpu (Chromium, SwiftShader adapter)', () => {
  let session: WebgpuSession<UNetWebgpuPage>;
  beforeAll(async () => {
    // The reference runs tfjs-backend-cpu's stock kernels: genlab's replacements would be on both sides.
    await tf.setBackend('cpu');
    session = await openWebgpuPage<UNetWebgpuPage>(new URL('./webgpu-page.ts', import.meta.url));
    expect(await session.call('init')).toMatchObject({ backend: 'webgpu', kernels: ['Conv2DBackpropFilter', 'AddN'] });
  }, 180_000);
  afterAll(async () => {
    await session?.close();
  });

  it('match the cpu backend at batch 2, and leave no tensor behind', async () => {
    const config = { ...MICRO, dropout: 0 };
    const xShape: [number, number, number, number] = [2, 8, 8, 3];
    const x = randomArray(2 * 8 * 8 * 3, 1);
    const r = randomArray(2 * 8 * 8 * 3, 2);
    const t = [3, 700];
    const y = [1, 3];

    const model = createUNet(config);
    const weights = await Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())));
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const reference = tf.tidy(() => {
      const inputs = [tf.tensor4d(x, xShape), tf.tensor1d(t), tf.tensor1d(y, 'int32')];
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(model.apply(inputs) as tf.Tensor, tf.tensor4d(r, xShape))) as tf.Scalar,
        variables,
      );
      return { value, grads: variables.map((v) => grads[v.name] as tf.Tensor) };
    });
    const referenceGrads = await Promise.all(reference.grads.map((g) => g.data()));

    const onWebgpu = await session.call('gradients', { config, weights, x, xShape, t, y, r });
    expect(onWebgpu.loss).toBeCloseTo((await reference.value.data())[0] as number, 3);
    expect(onWebgpu.grads).toHaveLength(variables.length);
    // float32 sums in another order through ~130 weights: relative errors of 1e-5 to 2e-4 measured; a wrong kernel gives ≥ 1e-2.
    onWebgpu.grads.forEach((grad, i) => {
      expect(grad, variables[i]?.name).toHaveLength(referenceGrads[i]?.length ?? -1);
      expect(relativeL2Error(grad, referenceGrads[i] as Float32Array), variables[i]?.name).toBeLessThan(1e-3);
    });
    expect(onWebgpu.numTensorsAfter).toBe(onWebgpu.numTensorsBefore);
    tf.dispose([reference.value, ...reference.grads]);
    model.dispose();
  }, 180_000);
});

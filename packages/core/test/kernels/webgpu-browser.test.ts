import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, openWebgpuPage, type WebgpuSession } from '../helpers/chromium-webgpu.js';
import { CASES, dyShape, naiveFilterGradient, size } from '../helpers/conv-cases.js';
import { relativeError, seededValues } from '../helpers/numeric.js';
import type { WebgpuPage } from '../helpers/webgpu-page/entry.js';

if (!hasChromium) console.warn('SKIPPED webgpu kernel test: /usr/bin/chromium is absent (apt-get install -y chromium)');

// tfjs-backend-webgpu's stock Conv2DBackpropFilter took 83 % of a UNet training step on an H200
// (docs/gpu.md), and its AddN breaks past 7 inputs; genlab registers its own kernels for
// webgpu instead. Chromium's SwiftShader adapter runs the real WebGPU backend on the CPU, so their
// results can be checked here.
describe.skipIf(!hasChromium)("genlab's webgpu kernels (Chromium, SwiftShader adapter)", () => {
  let session: WebgpuSession<WebgpuPage>;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    session = await openWebgpuPage<WebgpuPage>(new URL('../helpers/webgpu-page/entry.ts', import.meta.url));
    const init = await session.call('init');
    expect(init.backend).toBe('webgpu');
    expect(init.kernels).toEqual(['Conv2DBackpropFilter', 'AddN']);
  }, 120_000);
  afterAll(async () => {
    await session?.close();
  });

  for (const [index, c] of CASES.entries()) {
    it(`matches a float64 reference: ${c.name}`, async () => {
      const shape = dyShape(c);
      const x = seededValues(size(c.x), 11 + index);
      const dy = seededValues(size(shape), 97 + index);
      const before = await session.call('numTensors');
      const onWebgpu = await session.call('filterGradient', c, shape, Array.from(x), Array.from(dy));
      expect(onWebgpu).toHaveLength(size(c.filter));
      expect(relativeError(Float32Array.from(onWebgpu), naiveFilterGradient(c, x, dy))).toBeLessThan(1e-5);
      expect(await session.call('numTensors')).toBe(before);
    }, 60_000);
  }

  // The stock AddN binds every input in one shader: past WebGPU's 8 storage buffers per stage the
  // pipeline is invalid and the result garbage (zeros on SwiftShader), with no error raised.
  for (const count of [2, 7, 8, 9, 50, 250]) {
    it(`AddN of ${count} tensors is their sum`, async () => {
      const shape = [3, 5];
      const inputs = Array.from({ length: count }, (_, i) => Array.from(seededValues(15, 500 + i)));
      const before = await session.call('numTensors');
      const sum = await session.call('addN', shape, inputs);
      const expected = Array.from({ length: 15 }, (_, j) => inputs.reduce((acc, values) => acc + (values[j] as number), 0));
      expect(sum).toHaveLength(15);
      for (let j = 0; j < 15; j++) expect(Math.abs((sum[j] as number) - (expected[j] as number))).toBeLessThan(1e-5 * count);
      expect(await session.call('numTensors')).toBe(before);
    }, 60_000);
  }
});

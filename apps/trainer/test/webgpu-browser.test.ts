import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The Chromium/WebGPU harness is core's (its kernels are tested the same way).
import { hasChromium, openWebgpuPage, type WebgpuSession } from '../../../packages/core/test/helpers/chromium-webgpu.js';
import { relativeL2Error } from '../../../packages/core/test/helpers/numeric.js';
import { parseCifarBatch } from '../src/data/cifar10-format.js';
import { taskFromConfig } from '../src/tasks/index.js';
import type { ModelKind } from '../src/tasks/types.js';
import { type OptimizationConfig, type StepResult, Trainer } from '../src/train/trainer.js';
import { MICRO_DIFFUSION, makeCifarBytes, weightsOf } from './fixtures.js';
import type { TrainerWebgpuPage } from './webgpu-page.js';

if (!hasChromium) console.warn('SKIPPED trainer webgpu test: /usr/bin/chromium is absent (apt-get install -y chromium)');

/** w − w0 over all tensors, flattened. */
function update(weights: readonly ArrayLike<number>[], initial: readonly ArrayLike<number>[]): number[] {
  return weights.flatMap((values, i) => Array.from(values, (v, j) => v - ((initial[i] as ArrayLike<number>)[j] as number)));
}

interface Case {
  kind: ModelKind;
  config: Record<string, unknown>;
  steps: number;
}

// Clipping engages (the global norm is far above 0.05), and 2 micro-batches are accumulated per step.
const optimization: OptimizationConfig = { batchSize: 4, microBatch: 2, lr: 1e-3, warmupSteps: 0, gradClipNorm: 0.05, emaDecay: 0.9 };

const CASES: Case[] = [
  {
    kind: 'diffusion',
    config: { ...MICRO_DIFFUSION, unet: { ...MICRO_DIFFUSION.unet, numClasses: 10 }, labelDropout: 0.5 },
    steps: 3,
  },
  {
    kind: 'energy',
    config: {
      net: { preset: 'small', channels: [4, 8], hiddenUnits: [8], seed: 2 },
      langevin: { steps: 3 },
      sampleSteps: 3,
      replay: { capacity: 16, reinitProbability: 0.2 },
    },
    steps: 3,
  },
  {
    kind: 'classifier',
    config: { net: { inputShape: [32, 32, 3], numClasses: 10, channels: [4], featureUnits: 6, dropout: 0, output: 'softmax', seed: 1 } },
    steps: 3,
  },
];

// Whole optimiser steps (the task's batch preparation, Langevin chains included; micro-batch
// accumulation; global-norm clipping; Adam; the EMA) on tfjs-backend-webgpu in Chromium's SwiftShader
// adapter, against the same steps on tfjs-backend-cpu's stock kernels in Node: same weights, same
// seed, so the same batches and noise.
describe.skipIf(!hasChromium)('Trainer steps on webgpu (Chromium, SwiftShader adapter)', () => {
  let session: WebgpuSession<TrainerWebgpuPage>;
  const records = parseCifarBatch(makeCifarBytes(24), 'fixture.bin');
  beforeAll(async () => {
    await tf.setBackend('cpu');
    session = await openWebgpuPage<TrainerWebgpuPage>(new URL('./webgpu-page.ts', import.meta.url));
    expect(await session.call('init')).toMatchObject({ backend: 'webgpu', kernels: ['Conv2DBackpropFilter', 'AddN'] });
  }, 180_000);
  afterAll(async () => {
    await session?.close();
  });

  for (const c of CASES) {
    it(`${c.kind}: ${c.steps} steps match the cpu backend, and tensors stay flat`, async () => {
      const trainer = new Trainer(taskFromConfig(c.kind, c.config), records, optimization, 11);
      try {
        const initial = (await weightsOf(trainer.model)).map((w) => Array.from(w)); // plain arrays: they cross to the page as JSON
        const reference: StepResult[] = [];
        for (let i = 0; i < c.steps; i++) reference.push(await trainer.trainStep());
        const expectedWeights = await weightsOf(trainer.model);
        const expectedEma = await weightsOf(trainer.ema.model);

        const onWebgpu = await session.call('train', {
          kind: c.kind,
          config: c.config,
          optimization,
          seed: 11,
          records: { pixels: Array.from(records.pixels), labels: Array.from(records.labels), count: records.count },
          weights: initial,
          steps: c.steps,
        });
        const weightError = relativeL2Error(update(onWebgpu.weights, initial), update(expectedWeights, initial));
        const emaError = relativeL2Error(update(onWebgpu.emaWeights, initial), update(expectedEma, initial));
        // Measured: losses and norms within 2e-5 relative, weight and EMA updates within 5e-4 (L2);
        // with the stock AddN the norm reads 0 or is off by 12–98 %.
        expect(onWebgpu.results).toHaveLength(c.steps);
        for (const [i, r] of onWebgpu.results.entries()) {
          const ref = reference[i] as StepResult;
          expect(r.gradNorm, `step ${i + 1}: clipping must engage`).toBeGreaterThan(optimization.gradClipNorm as number);
          expect(Math.abs(r.loss - ref.loss) / Math.abs(ref.loss), `step ${i + 1} loss`).toBeLessThan(1e-4);
          expect(Math.abs(r.gradNorm - ref.gradNorm) / ref.gradNorm, `step ${i + 1} gradient norm`).toBeLessThan(1e-4);
        }
        expect(weightError).toBeLessThan(1e-2);
        expect(emaError).toBeLessThan(1e-2);
        // Adam's moments appear at the first step; nothing may accumulate after it.
        expect(new Set(onWebgpu.numTensors.slice(1)).size).toBe(1);
      } finally {
        trainer.dispose();
      }
    }, 300_000);
  }
});

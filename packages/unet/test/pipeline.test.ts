import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, saveCheckpoint, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, useTestBackend } from '../../../testing/backend.js';
import {
  createUNet,
  type DiffusionModelConfig,
  DiffusionPipeline,
  resolveConditioning,
  resolveDiffusionConfig,
  type UNetConfigInput,
} from '../src/index.js';
import { createDiffusionProvider } from '../src/plugin/index.js';
import { maxAbsDiff } from './helpers.js';

/**
 * Outputs of the code paths the pipeline replaced (the API provider's own assembly and the
 * trainer's `DiffusionTask.sample`), recorded on tfjs-backend-cpu before they were deleted:
 * every 7th value and the sum of |x| of each case.
 */
type Golden = Record<string, { n: number; every7: number[]; sumAbs: number }>;
const GOLDEN = JSON.parse(readFileSync(new URL('./fixtures/pipeline-golden.json', import.meta.url), 'utf8')) as Golden;

const BASE: UNetConfigInput = {
  preset: 'tiny',
  imageSize: 8,
  baseChannels: 8,
  channelMults: [1, 2],
  attentionResolutions: [],
  midAttention: false,
  groups: 4,
};

/** Weights from a seeded normal(0, 0.1): the same model on every run. */
function seededUNet(config: DiffusionModelConfig): LayersModel {
  const model = createUNet(config.unet);
  const rng = new Rng(11);
  const weights = model.getWeights().map((w) => rng.normal([...w.shape], 0, 0.1));
  model.setWeights(weights);
  tf.dispose(weights);
  return model;
}

const configs = {
  c: resolveDiffusionConfig({ unet: { ...BASE, numClasses: 3 }, schedule: { kind: 'linear', timesteps: 20 }, sampleSteps: 3 }),
  u: resolveDiffusionConfig({ unet: BASE, schedule: { kind: 'cosine', timesteps: 30 }, sampleSteps: 3 }),
};

let root = '';
beforeAll(async () => {
  await useTestBackend();
  root = await mkdtemp(join(tmpdir(), 'genlab-pipeline-'));
  for (const [name, config] of Object.entries(configs)) {
    const model = seededUNet(config);
    const { unet, schedule, sampleSteps } = config;
    await saveCheckpoint(join(root, name), {
      manifest: { format: 1, kind: 'diffusion', config: { unet, schedule, sampleSteps }, step: 0, created: new Date(0).toISOString() },
      models: { model },
    });
    model.dispose();
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectGolden(key: string, x: tf.Tensor): Promise<void> {
  const golden = GOLDEN[key];
  if (!golden) throw new Error(`no golden values for ${key}`);
  const values = await x.data();
  x.dispose();
  expect(values.length).toBe(golden.n);
  const every7 = Array.from(values).filter((_, i) => i % 7 === 0);
  const diff = Math.max(...every7.map((v, i) => Math.abs(v - (golden.every7[i] as number))));
  // The recorded values are rounded to 1e-7; the sum covers every value.
  expect(diff, key).toBeLessThan(1e-6);
  const sumAbs = Array.from(values).reduce((s, v) => s + Math.abs(v), 0);
  expect(Math.abs(sumAbs - golden.sumAbs), key).toBeLessThan(1e-4);
}

describe.runIf(TEST_BACKEND === 'cpu')('DiffusionPipeline gives the samples of the code it replaced', () => {
  for (const cond of ['c', 'u'] as const) {
    it(`API provider, ${cond === 'c' ? 'class-conditional' : 'unconditional'}: DDIM, DDIM η, DDPM, DPM-Solver++, guidance, inpainting`, async () => {
      const provider = createDiffusionProvider({ id: 'd', dir: join(root, cond) });
      await provider.load();
      const label = (classLabel: number, guidance?: number) =>
        cond === 'c' ? { classLabel, ...(guidance === undefined ? {} : { guidance }) } : {};
      const cases = {
        ddim: { count: 2, seed: 1, sampler: 'ddim', steps: 4 },
        ddimEta: { count: 2, seed: 2, sampler: 'ddim', steps: 4, eta: 0.5, ...label(1) },
        ddpm: { count: 2, seed: 3, sampler: 'ddpm', steps: 4, ...label(2, 3) },
        dpm: { count: 2, seed: 4, sampler: 'dpm-solver++', steps: 4, ...label(0, 2) },
      } as const;
      for (const [name, params] of Object.entries(cases)) {
        await expectGolden(`provider.${cond}.${name}`, (await provider.sample?.(params, {})) as tf.Tensor);
      }
      const image = tf.tidy(() => tf.mul(tf.reshape(tf.linspace(-1, 1, 8 * 8 * 3), [1, 8, 8, 3]), 0.5)) as tf.Tensor4D;
      // The API's mask: 1 = generate (the left half), 0 = keep; and a soft one.
      const halves = tf.tidy(() => tf.concat([tf.ones([1, 8, 4, 1]), tf.zeros([1, 8, 4, 1])], 2)) as tf.Tensor4D;
      const soft = tf.tidy(() => tf.reshape(tf.linspace(0, 1, 64), [1, 8, 8, 1])) as tf.Tensor4D;
      for (const [name, mask] of [
        ['inpaint', halves],
        ['inpaintSoft', soft],
      ] as const) {
        const params = { count: 2, seed: 5, sampler: 'ddim' as const, steps: 3, ...label(1, 2), image, mask };
        await expectGolden(`provider.${cond}.${name}`, (await provider.inpaint?.(params, {})) as tf.Tensor);
      }
      tf.dispose([image, halves, soft]);
      provider.dispose();
    });

    it(`trainer grids, ${cond === 'c' ? 'cycling the classes, with and without guidance' : 'unconditional'}`, async () => {
      const config = configs[cond];
      const model = seededUNet(config);
      const pipeline = new DiffusionPipeline(model, config);
      const labels = cond === 'c' ? { labels: 'cycle' as const } : {};
      await expectGolden(`trainer.${cond}.plain`, await pipeline.sample({ count: 4, rng: new Rng(7), ...labels }));
      await expectGolden(`trainer.${cond}.steps`, await pipeline.sample({ count: 4, rng: new Rng(7), steps: 5, ...labels }));
      if (cond === 'c')
        await expectGolden('trainer.c.guided', await pipeline.sample({ count: 4, rng: new Rng(7), steps: 4, guidance: 3, ...labels }));
      model.dispose();
    });
  }
});

describe('DiffusionPipeline', () => {
  it('leaves no tensor behind but its result, with guidance and inpainting', async () => {
    const model = seededUNet(configs.c);
    const pipeline = new DiffusionPipeline(model, configs.c);
    const image = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    const mask = tf.ones([1, 8, 8, 1]) as tf.Tensor4D;
    const run = () => pipeline.sample({ count: 2, rng: new Rng(1), labels: [0, 2], guidance: 2, inpaint: { image, mask } });
    (await run()).dispose();
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const x = await pipeline.sample({
      count: 2,
      rng: new Rng(1),
      labels: [0, 2],
      guidance: 2,
      inpaint: { image, mask },
      onStep: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, image, mask]);
    model.dispose();
  });

  it('reports progress and stops when cancelled', async () => {
    const model = seededUNet(configs.u);
    const pipeline = new DiffusionPipeline(model, configs.u);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const steps: number[] = [];
    const run = pipeline.sample({
      count: 1,
      rng: new Rng(2),
      sampler: { kind: 'ddpm' },
      steps: 6,
      signal: controller.signal,
      onStep: ({ step }) => {
        steps.push(step);
        if (step === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
    expect(steps).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('knows its model: image shape, classes, default steps at most T', () => {
    const model = seededUNet(configs.c);
    const pipeline = new DiffusionPipeline(model, { ...configs.c, sampleSteps: 500 });
    expect(pipeline.imageShape).toEqual([8, 8, 3]);
    expect(pipeline.numClasses).toBe(3);
    expect(pipeline.defaultSteps).toBe(20);
    expect(pipeline.defaultSampler).toEqual({ kind: 'ddim' });
    model.dispose();
  });

  it('samples with the config’s sampler when the call names none (DDIM when the config names none)', async () => {
    const model = seededUNet(configs.u);
    const solver = new DiffusionPipeline(model, { ...configs.u, sampler: 'dpm-solver++' });
    expect(solver.defaultSampler).toEqual({ kind: 'dpm-solver++' });
    const byConfig = await solver.sample({ count: 2, rng: new Rng(3) });
    const named = await new DiffusionPipeline(model, configs.u).sample({ count: 2, rng: new Rng(3), sampler: { kind: 'dpm-solver++' } });
    const ddim = await new DiffusionPipeline(model, configs.u).sample({ count: 2, rng: new Rng(3) });
    const [a, b, c] = (await Promise.all([byConfig.data(), named.data(), ddim.data()])) as Float32Array[];
    expect(a).toEqual(b);
    expect(maxAbsDiff(a as Float32Array, c as Float32Array)).toBeGreaterThan(1e-4);
    tf.dispose([byConfig, named, ddim]);
    model.dispose();
  });
});

/** Two samples of a pipeline at seed 5, as values (the tensor disposed). */
async function draw(
  pipeline: DiffusionPipeline,
  options: { labels?: number; guidance?: number; guidanceRescale?: number },
): Promise<Float32Array> {
  const x = await pipeline.sample({ count: 2, rng: new Rng(5), ...options });
  const values = (await x.data()) as Float32Array;
  x.dispose();
  return values;
}

describe('the config’s default guidance (what the API gives a request for a class)', () => {
  it('guides samples of a class without `guidance`, not unconditional ones; an explicit scale wins', async () => {
    const model = seededUNet(configs.c);
    const guided = new DiffusionPipeline(model, { ...configs.c, guidance: 3 });
    const plain = new DiffusionPipeline(model, configs.c);
    expect(guided.defaultGuidance).toBe(3);
    expect(plain.defaultGuidance).toBe(1);
    const byDefault = await draw(guided, { labels: 1 });
    expect(byDefault).toEqual(await draw(plain, { labels: 1, guidance: 3 }));
    expect(maxAbsDiff(byDefault, await draw(plain, { labels: 1 }))).toBeGreaterThan(1e-4);
    expect(await draw(guided, { labels: 1, guidance: 1 })).toEqual(await draw(plain, { labels: 1 }));
    // Without labels: the null class, unguided, as before.
    expect(await draw(guided, {})).toEqual(await draw(plain, {}));
    model.dispose();
  });

  it('is a finite scale ≥ 0, for class-conditional models only, and absent from older configs', () => {
    expect(resolveDiffusionConfig({ unet: { ...BASE, numClasses: 3 }, guidance: 4 }).guidance).toBe(4);
    expect(configs.c).not.toHaveProperty('guidance');
    expect(() => resolveDiffusionConfig({ unet: { ...BASE, numClasses: 3 }, guidance: -1 })).toThrow(
      /guidance must be a finite number ≥ 0/,
    );
    expect(() => resolveDiffusionConfig({ unet: BASE, guidance: 4 })).toThrow(/guidance applies to class-conditional models only/);
  });
});

describe('the config’s default guidance rescale', () => {
  it('rescales guided samples without `guidanceRescale`; unguided ones are untouched; an explicit φ wins', async () => {
    const model = seededUNet(configs.c);
    const rescaled = new DiffusionPipeline(model, { ...configs.c, guidance: 3, guidanceRescale: 0.7 });
    const plain = new DiffusionPipeline(model, { ...configs.c, guidance: 3 });
    expect(rescaled.defaultGuidanceRescale).toBe(0.7);
    expect(plain.defaultGuidanceRescale).toBe(0);
    const byDefault = await draw(rescaled, { labels: 1 });
    expect(byDefault).toEqual(await draw(plain, { labels: 1, guidanceRescale: 0.7 }));
    expect(maxAbsDiff(byDefault, await draw(plain, { labels: 1 }))).toBeGreaterThan(1e-4);
    expect(await draw(rescaled, { labels: 1, guidanceRescale: 0 })).toEqual(await draw(plain, { labels: 1 }));
    // Unguided samples (no labels, or guidance 1) ignore the default, and refuse an explicit φ.
    expect(await draw(rescaled, {})).toEqual(await draw(plain, {}));
    expect(await draw(rescaled, { labels: 1, guidance: 1 })).toEqual(await draw(plain, { labels: 1, guidance: 1 }));
    await expect(draw(plain, { labels: 1, guidance: 1, guidanceRescale: 0.5 })).rejects.toThrow(/needs guidanceScale ≠ 1/);
    model.dispose();
  });

  it('is a number in [0, 1], for class-conditional models only, and absent from older configs', () => {
    expect(resolveDiffusionConfig({ unet: { ...BASE, numClasses: 3 }, guidanceRescale: 0.7 }).guidanceRescale).toBe(0.7);
    expect(configs.c).not.toHaveProperty('guidanceRescale');
    expect(() => resolveDiffusionConfig({ unet: { ...BASE, numClasses: 3 }, guidanceRescale: 1.5 })).toThrow(
      /guidanceRescale must be a number in \[0, 1\], got 1.5/,
    );
    expect(() => resolveDiffusionConfig({ unet: BASE, guidanceRescale: 0.5 })).toThrow(
      /guidanceRescale applies to class-conditional models only/,
    );
  });
});

describe('resolveConditioning: the one check of labels and guidance', () => {
  it('a class-conditional model without labels samples the null class, and refuses guidance then', () => {
    expect(resolveConditioning(3, 2)).toEqual({ labels: Int32Array.from([3, 3]), guidanceScale: 1, nullClass: 3 });
    expect(resolveConditioning(3, 2, undefined, 1).guidanceScale).toBe(1);
    expect(() => resolveConditioning(3, 2, undefined, 4)).toThrow(/guidance steers samples towards a class: give class labels too/);
  });

  it('one class, a list, or cycling the classes; guidance applies to each', () => {
    expect(resolveConditioning(3, 2, 1, 4)).toEqual({ labels: Int32Array.from([1, 1]), guidanceScale: 4, nullClass: 3 });
    expect(resolveConditioning(3, 2, [2, 0]).labels).toEqual(Int32Array.from([2, 0]));
    expect(resolveConditioning(3, 5, 'cycle', 2).labels).toEqual(Int32Array.from([0, 1, 2, 0, 1]));
  });

  it('refuses labels out of range, a list of the wrong length, and a non-finite scale', () => {
    expect(() => resolveConditioning(3, 2, 3)).toThrow(/class label must be an integer in \[0, 3\), got 3/);
    expect(() => resolveConditioning(3, 2, [0])).toThrow(/1 class labels for 2 samples/);
    expect(() => resolveConditioning(3, 2, 0, Number.NaN)).toThrow(ValidationError);
  });

  it('an unconditional model takes neither labels nor guidance', () => {
    expect(resolveConditioning(undefined, 2)).toEqual({ guidanceScale: 1 });
    expect(() => resolveConditioning(undefined, 2, 0)).toThrow(/class labels need a class-conditional model/);
    expect(() => resolveConditioning(undefined, 2, 'cycle')).toThrow(ValidationError);
    expect(() => resolveConditioning(undefined, 2, undefined, 3)).toThrow(/guidance needs a class-conditional model/);
  });
});

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, loadCheckpoint, Rng, silentLogger, ValidationError } from '@lab/core';
import { createSchedule, DDIMSampler, sampleDiffusion } from '@lab/samplers';
import { DiffusionPipeline, parseDiffusionConfig } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TEST_BACKEND } from '../../../testing/backend.js';
import { main } from '../src/cli.js';
import { exportCommand } from '../src/commands/export.js';
import { defaultWarmup } from '../src/commands/train.js';
import { RunDirectory } from '../src/run/run-dir.js';
import { DiffusionTask, type DiffusionTaskOptions } from '../src/tasks/diffusion.js';
import { createTask, DEFAULT_OPTIMIZATION } from '../src/tasks/index.js';
import { MICRO_DIFFUSION, maxAbsDiff, tempDir, writeCifarDir } from './fixtures.js';

let previousBackend: string | undefined;
beforeAll(async () => {
  previousBackend = process.env.GENLAB_BACKEND;
  process.env.GENLAB_BACKEND = TEST_BACKEND;
  await initBackend({ force: 'cpu', logger: silentLogger });
});
afterAll(() => {
  if (previousBackend === undefined) delete process.env.GENLAB_BACKEND;
  else process.env.GENLAB_BACKEND = previousBackend;
});

describe('class-conditional diffusion runs', () => {
  it('--conditional makes a 10-class UNet on all of CIFAR-10, with label dropout 0.1 by default', () => {
    const task = createTask('diffusion', { conditional: true }) as DiffusionTask;
    expect(task.numClasses).toBe(10);
    expect(task.config).toMatchObject({ labelDropout: 0.1, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect((task.config.classNames as string[])[9]).toBe('truck');
    expect((createTask('diffusion', {}) as DiffusionTask).numClasses).toBeUndefined();
  });

  it('rejects --label-dropout without --conditional, out of [0, 1], and conditioning for other models', () => {
    expect(() => createTask('diffusion', { labelDropout: 0.2 })).toThrow(/needs --conditional/);
    expect(() => createTask('diffusion', { conditional: true, labelDropout: 1.5 })).toThrow(ValidationError);
    expect(() => createTask('energy', { conditional: true })).toThrow(/diffusion runs/);
  });

  it('with --classes, class index i is CIFAR label classes[i] (sorted); other labels are errors', async () => {
    const task = createTask('diffusion', { conditional: true, labelDropout: 0, classes: [5, 3] }) as DiffusionTask;
    expect(task.numClasses).toBe(2);
    expect(task.config).toMatchObject({ classes: [3, 5], classNames: ['cat', 'dog'] });
    const images = tf.zeros([3, 32, 32, 3]) as tf.Tensor4D;
    const labels = tf.tensor1d([5, 3, 5], 'int32');
    const prepared = await task.prepare(undefined as never, { images, labels }, new Rng(1));
    expect(Array.from(await (prepared.y as tf.Tensor).data())).toEqual([1, 0, 1]);
    tf.dispose(Object.values(prepared));
    const stray = tf.tensor1d([3, 7, 5], 'int32');
    await expect(task.prepare(undefined as never, { images, labels: stray }, new Rng(1))).rejects.toThrow(/label 7/);
    tf.dispose([images, labels, stray]);
  });

  it('trains a step from the CLI, keeps the conditioning on --resume and exports numClasses in the manifest', async () => {
    const dataDir = await writeCifarDir(await tempDir(), 8);
    const root = await tempDir();
    const out = join(root, 'cond');
    const flags = ['--model', 'diffusion', '--conditional', '--label-dropout', '0.25', '--classes', '3,5', '--data-dir', dataDir];
    const small = ['--batch', '2', '--timesteps', '20', '--sample-every', '0', '--checkpoint-every', '1'];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['train', '--out', out, ...flags, ...small, '--steps', '1'], silentLogger)).toBe(0);
      const info = await new RunDirectory(out).readInfo();
      expect(info.task).toMatchObject({ unet: { numClasses: 2 }, labelDropout: 0.25, classes: [3, 5] });
      expect(info.data.classes).toEqual([3, 5]);
      // A 1-step run gets no warm-up (min(100, 10 % of 1)).
      expect(info.optimization.warmupSteps).toBe(0);

      // --resume rebuilds the conditional task from run.json; conflicting flags are refused.
      await expect(
        main(['train', '--out', out, '--resume', '--label-dropout', '0.5', '--data-dir', dataDir], silentLogger),
      ).rejects.toThrow(/--label-dropout 0.25/);
      expect(await main(['train', '--out', out, '--resume', '--steps', '2', '--data-dir', dataDir], silentLogger)).toBe(0);
      expect(await new RunDirectory(out).checkpointSteps()).toContain(2);
      const resumed = await new RunDirectory(out).readInfo();
      expect(resumed.task).toEqual(info.task);
    } finally {
      write.mockRestore();
    }

    const to = join(root, 'models', 'ddpm-cond');
    const exported = await exportCommand({ run: out, to });
    expect(exported.manifest.config).toMatchObject({ unet: { numClasses: 2 }, classNames: ['cat', 'dog'] });
    const onDisk = JSON.parse(await readFile(join(to, 'genlab.json'), 'utf8')) as { config: { unet: { numClasses: number } } };
    expect(onDisk.config.unet.numClasses).toBe(2);
    const loaded = await loadCheckpoint(to);
    const model = loaded.models.model;
    // x, t and the class label.
    expect(model?.inputs).toHaveLength(3);
    model?.dispose();
    tf.dispose(Object.values(loaded.tensors));

    // export --guidance: the served default scale of requests for a class, in the config; checked by its rules.
    expect(onDisk.config).not.toHaveProperty('guidance');
    write.mockImplementation(() => true);
    try {
      expect(await main(['export', '--run', out, '--to', to, '--force', '--guidance', '6'], silentLogger)).toBe(0);
    } finally {
      write.mockRestore();
    }
    const guided = JSON.parse(await readFile(join(to, 'genlab.json'), 'utf8')) as { config: { guidance?: number } };
    expect(guided.config.guidance).toBe(6);
    // export --guidance-rescale: the served default φ, beside the scale.
    write.mockImplementation(() => true);
    try {
      expect(
        await main(['export', '--run', out, '--to', to, '--force', '--guidance', '12', '--guidance-rescale', '0.7'], silentLogger),
      ).toBe(0);
    } finally {
      write.mockRestore();
    }
    const rescaled = JSON.parse(await readFile(join(to, 'genlab.json'), 'utf8')) as {
      config: { guidance?: number; guidanceRescale?: number };
    };
    expect(rescaled.config).toMatchObject({ guidance: 12, guidanceRescale: 0.7 });
    await expect(main(['export', '--run', out, '--to', to, '--force', '--guidance-rescale', '1.5'], silentLogger)).rejects.toThrow(
      /guidanceRescale must be a number in \[0, 1\], got 1.5/,
    );
    await expect(main(['export', '--run', out, '--to', to, '--force', '--guidance', 'strong'], silentLogger)).rejects.toThrow(
      "--guidance must be a number ≥ 0, got 'strong'",
    );
  }, 300_000);
});

describe('guided samples from a conditional run', () => {
  it('guidance 0 is the unconditional model: the same samples as labelling every image with the null class', async () => {
    const task = new DiffusionTask({ ...MICRO_DIFFUSION, unet: { ...MICRO_DIFFUSION.unet, numClasses: 3 } } as DiffusionTaskOptions);
    const model = task.createModel();
    const shape = [2, 32, 32, 3] as [number, number, number, number];
    const guided = await task.sample(model, 2, new Rng(5), { steps: 2, guidance: 0 });
    // The reference path has no guidance at all: plain conditional sampling with label 3 (= numClasses) everywhere.
    const unconditional = await sampleDiffusion({
      denoiser: (x, t, y) => model.apply([x, t, y as tf.Tensor], { training: false }) as tf.Tensor4D,
      sampler: new DDIMSampler(createSchedule({ kind: 'linear', timesteps: 50 })),
      steps: 2,
      shape,
      rng: new Rng(5),
      classLabels: new Int32Array(2).fill(3),
    });
    const conditional = await task.sample(model, 2, new Rng(5), { steps: 2 });
    const [g, u, c] = await Promise.all([guided.data(), unconditional.data(), conditional.data()]);
    expect(maxAbsDiff([g as Float32Array], [u as Float32Array])).toBeLessThan(1e-5);
    // …and the labels matter, so the comparison could fail.
    expect(maxAbsDiff([c as Float32Array], [u as Float32Array])).toBeGreaterThan(1e-4);
    tf.dispose([guided, unconditional, conditional]);
    model.dispose();
  });

  it('passes the guidance rescale to the pipeline: the same samples as the pipeline with it, not those without', async () => {
    const config = { ...MICRO_DIFFUSION, unet: { ...MICRO_DIFFUSION.unet, numClasses: 3 } } as DiffusionTaskOptions;
    const task = new DiffusionTask(config);
    const model = task.createModel();
    const draw = async (options: { guidanceRescale?: number }) => {
      const x = await task.sample(model, 3, new Rng(5), { steps: 2, guidance: 3, ...options });
      const values = (await x.data()) as Float32Array;
      x.dispose();
      return values;
    };
    const pipeline = new DiffusionPipeline(model, parseDiffusionConfig(task.config));
    const reference = await pipeline.sample({ count: 3, rng: new Rng(5), steps: 2, labels: 'cycle', guidance: 3, guidanceRescale: 0.7 });
    const rescaled = await draw({ guidanceRescale: 0.7 });
    expect(maxAbsDiff([rescaled], [(await reference.data()) as Float32Array])).toBe(0);
    expect(maxAbsDiff([rescaled], [await draw({})])).toBeGreaterThan(1e-4);
    reference.dispose();
    model.dispose();
  });

  it('an unconditional diffusion task or an energy task refuses guidance', async () => {
    const task = new DiffusionTask(MICRO_DIFFUSION as DiffusionTaskOptions);
    expect(task.classConditional).toBe(false);
    const model = task.createModel();
    await expect(task.sample(model, 2, new Rng(1), { steps: 1, guidance: 2 })).rejects.toThrow(/class-conditional/);
    model.dispose();
    const energy = createTask('energy', {});
    expect(energy.classConditional).toBeFalsy();
  });
});

describe('the sampler of a diffusion task', () => {
  it('dpm-solver++ draws finite samples in [-1, 1], not DDIM’s; ddim by name is the default, bit for bit', async () => {
    const task = new DiffusionTask({ ...MICRO_DIFFUSION, unet: { ...MICRO_DIFFUSION.unet, numClasses: 3 } } as DiffusionTaskOptions);
    const model = task.createModel();
    const before = tf.memory().numTensors;
    const ddim = await task.sample(model, 2, new Rng(7), { steps: 3 });
    const named = await task.sample(model, 2, new Rng(7), { steps: 3, sampler: 'ddim' });
    const dpm = await task.sample(model, 2, new Rng(7), { steps: 3, sampler: 'dpm-solver++' });
    const guided = await task.sample(model, 2, new Rng(7), { steps: 3, sampler: 'dpm-solver++', guidance: 3 });
    expect(dpm.shape).toEqual([2, 32, 32, 3]);
    const [a, b, d, g] = (await Promise.all([ddim.data(), named.data(), dpm.data(), guided.data()])) as Float32Array[];
    expect(b).toEqual(a);
    for (const values of [d, g] as Float32Array[]) {
      expect(values.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)).toBe(true);
    }
    // Same seed, same starting noise: the solvers differ, and so do their samples.
    expect(maxAbsDiff([d as Float32Array], [a as Float32Array])).toBeGreaterThan(1e-4);
    expect(maxAbsDiff([g as Float32Array], [d as Float32Array])).toBeGreaterThan(1e-4);
    // A config that names a sampler samples with it when the call names none.
    const solverTask = new DiffusionTask({
      ...MICRO_DIFFUSION,
      unet: { ...MICRO_DIFFUSION.unet, numClasses: 3 },
      sampler: 'dpm-solver++',
    } as DiffusionTaskOptions);
    const byConfig = await solverTask.sample(model, 2, new Rng(7), { steps: 3 });
    expect(await byConfig.data()).toEqual(d);
    tf.dispose([ddim, named, dpm, guided, byConfig]);
    // The solver's remembered x̂₀ is freed at the last step: nothing outlives the calls.
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('default warm-up', () => {
  it('is the kind default, but at most 10 % of the run', () => {
    expect(DEFAULT_OPTIMIZATION.diffusion.warmupSteps).toBe(100);
    expect(defaultWarmup('diffusion', 20_000)).toBe(100);
    expect(defaultWarmup('diffusion', 1000)).toBe(100);
    expect(defaultWarmup('diffusion', 300)).toBe(30);
    expect(defaultWarmup('diffusion', 5)).toBe(0);
    expect(defaultWarmup('energy', 1000)).toBe(0);
  });
});

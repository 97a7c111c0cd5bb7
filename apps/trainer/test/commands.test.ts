import { existsSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, loadCheckpoint, Rng, saveCheckpoint, silentLogger, ValidationError } from '@lab/core';
import { parseScoreEnergyConfig, servedEnergy } from '@lab/energy';
import { createUNet, resolveDiffusionConfig, resolveUNetConfig, type UNetConfigInput, unconditionalUNet } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateClassifierCommand, evaluateCommand, resolveEvaluation } from '../src/commands/evaluate.js';
import { exportCommand } from '../src/commands/export.js';
import { sampleCommand } from '../src/commands/sample.js';
import { type TrainCommandOptions, trainCommand } from '../src/commands/train.js';
import { recordsToBatch } from '../src/data/batches.js';
import { parseCifarBatch } from '../src/data/cifar10-format.js';
import { FeatureExtractor } from '../src/evaluation/features.js';
import { inceptionScore } from '../src/metrics/inception-score.js';
import { loadClassifier } from '../src/run/load-run.js';
import type { ProgressReporter } from '../src/run/progress.js';
import { RunDirectory } from '../src/run/run-dir.js';
import { MICRO_DIFFUSION, makeCifarBytes, maxAbsDiff, tempDir, writeCifarDir } from './fixtures.js';

beforeAll(async () => {
  await initBackend({ force: 'cpu', logger: silentLogger });
});

const records = parseCifarBatch(makeCifarBytes(48), 'fixture.bin');
const testRecords = parseCifarBatch(makeCifarBytes(24, 48), 'fixture-test.bin');

function diffusionRun(out: string, extra: Partial<TrainCommandOptions> = {}): TrainCommandOptions {
  return {
    out,
    model: 'diffusion',
    taskConfig: MICRO_DIFFUSION,
    records,
    steps: 4,
    batch: 4,
    microBatch: 2,
    lr: 2e-3,
    warmup: 2,
    gradClip: 1,
    ema: 0.9,
    seed: 11,
    checkpointEvery: 2,
    sampleEvery: 2,
    samples: 4,
    keep: 5,
    ...extra,
  };
}

/** A one-step score-matching energy run (--objective dsm) on a tiny net with 3 noise levels. */
function scoreEnergyRun(out: string, extra: Partial<TrainCommandOptions> = {}): TrainCommandOptions {
  const net = { preset: 'small' as const, channels: [4, 8], hiddenUnits: [8], seed: 2 };
  return { out, model: 'energy', taskConfig: { objective: 'dsm', net, noise: { levels: 3 } }, records, steps: 1, batch: 4, ...extra };
}

/** A progress reporter that aborts the run once it reaches `step`. */
function abortAt(step: number, controller: AbortController): ProgressReporter {
  return {
    start() {},
    stop() {},
    update(value) {
      if (value >= step) controller.abort();
    },
  };
}

async function modelWeights(checkpoint: string): Promise<Record<string, Float32Array[]>> {
  const loaded = await loadCheckpoint(checkpoint);
  const out: Record<string, Float32Array[]> = {};
  for (const [name, model] of Object.entries(loaded.models)) {
    out[name] = await Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
    model.dispose();
  }
  tf.dispose(Object.values(loaded.tensors));
  return out;
}

describe('energy runs', () => {
  it('export the sorted energies of training images for the API percentiles', async () => {
    const root = await tempDir();
    const run = join(root, 'energy');
    await trainCommand({
      out: run,
      model: 'energy',
      taskConfig: { net: { preset: 'small', channels: [4, 8], hiddenUnits: [8], seed: 2 }, langevin: { steps: 2 }, sampleSteps: 2 },
      records,
      steps: 1,
      batch: 4,
      sampleEvery: 1,
      samples: 4,
    });
    expect(existsSync(join(run, 'samples', 'step-00000001.png'))).toBe(true);
    const to = join(root, 'models', 'ebm');
    await exportCommand({ run, to, trainRecords: records, energyReference: 10 });
    const exported = await loadCheckpoint(to);
    expect(exported.manifest.kind).toBe('energy');
    const energies = Array.from(await (exported.tensors.trainingEnergies as tf.Tensor).data());
    expect(energies).toHaveLength(10);
    expect(energies).toEqual([...energies].sort((a, b) => a - b));
    expect(new Set(energies).size).toBeGreaterThan(1);
    for (const m of Object.values(exported.models)) m.dispose();
    tf.dispose(Object.values(exported.tensors));
    // Its plain Langevin sampler has no annealed step size to set.
    await expect(sampleCommand({ run, out: join(root, 'cd.png'), n: 2, stepSize: 1e-4 })).rejects.toThrow(
      /--step-size needs a score-matching energy run \(annealed Langevin\); .* is a contrastive-divergence energy run/,
    );
  });

  it('train, sample and export a score-matching energy (--objective dsm) with its energies at the smallest noise level', async () => {
    const root = await tempDir();
    const run = join(root, 'dsm');
    await trainCommand(scoreEnergyRun(run, { sampleEvery: 1, samples: 4 }));
    expect(existsSync(join(run, 'samples', 'step-00000001.png'))).toBe(true);
    const to = join(root, 'models', 'ebm-dsm');
    await exportCommand({ run, to, trainRecords: records, energyReference: 10 });
    const exported = await loadCheckpoint(to);
    expect(exported.manifest.config).toMatchObject({ objective: 'dsm', noise: { levels: 3 } });
    const stored = Array.from(await (exported.tensors.trainingEnergies as tf.Tensor).data());
    const model = exported.models.model as Parameters<typeof servedEnergy>[0];
    const { images, labels } = recordsToBatch(
      records,
      Array.from({ length: 10 }, (_, i) => i),
      new Rng(0),
    );
    const direct = servedEnergy(model, parseScoreEnergyConfig(exported.manifest.config))(images);
    const expected = Array.from(await direct.data()).sort((a, b) => a - b);
    stored.forEach((e, i) => {
      expect(e).toBeCloseTo(expected[i] as number, 3);
    });
    tf.dispose([images, labels, direct, ...Object.values(exported.tensors)]);
    model.dispose();
  });

  it('sample and evaluate a score-matching energy with another annealed-Langevin step size (--step-size)', async () => {
    const root = await tempDir();
    const run = join(root, 'dsm');
    await trainCommand(scoreEnergyRun(run));
    // The same seed: the run's own ε (5e-5) by default or by name gives the same grid, another ε another.
    const grid = async (name: string, stepSize?: number) => {
      const out = join(root, name);
      await sampleCommand({ run, out, n: 4, steps: 6, ...(stepSize === undefined ? {} : { stepSize }) });
      return readFile(out);
    };
    const own = await grid('own.png');
    expect((await grid('named.png', 5e-5)).equals(own)).toBe(true);
    expect((await grid('larger.png', 2e-4)).equals(own)).toBe(false);
    await expect(sampleCommand({ run, out: join(root, 'x.png'), stepSize: 0 })).rejects.toThrow('--step-size must be a number > 0, got 0');

    const classifier = join(root, 'classifier');
    await trainCommand({
      out: classifier,
      model: 'classifier',
      taskConfig: {
        net: { inputShape: [32, 32, 3], numClasses: 10, channels: [4], featureUnits: 6, dropout: 0, output: 'softmax', seed: 1 },
      },
      records,
      steps: 1,
      batch: 8,
    });
    // Fine-tuning a classifier may add cutout (a training choice); its network stays the source's.
    const cutoutRun = join(root, 'classifier-cutout');
    await trainCommand({ out: cutoutRun, initFrom: classifier, cutout: 8, weightDecay: 0.05, records, steps: 1, batch: 8 });
    const cutoutInfo = await new RunDirectory(cutoutRun).readInfo();
    expect(cutoutInfo.task).toMatchObject({ cutout: 8, net: { channels: [4], featureUnits: 6 } });
    // Weight decay is stored in the run's optimisation settings, and only when used.
    expect(cutoutInfo.optimization.weightDecay).toBe(0.05);
    expect((await new RunDirectory(classifier).readInfo()).optimization).not.toHaveProperty('weightDecay');
    await expect(trainCommand({ out: join(root, 'energy-cutout'), initFrom: run, cutout: 8, records, steps: 1 })).rejects.toThrow(
      /leave out --cutout/,
    );
    const options = {
      run,
      classifier,
      n: 6,
      realCount: 30,
      batch: 6,
      sampleSteps: 6,
      cacheDir: await tempDir(),
      trainRecords: records,
      testRecords,
    };
    const byDefault = await evaluateCommand(options);
    expect(byDefault).toMatchObject({ stepSize: 5e-5, sampleSteps: 6, file: join(run, 'evaluations', 'step-00000001-steps-6.json') });
    // The run's own ε by name is the default evaluation; another goes to its own file, which names it.
    const named = await evaluateCommand({ ...options, stepSize: 5e-5 });
    expect(named.file).toBe(byDefault.file);
    expect(named.sets.generated?.['FD-cls']).toBe(byDefault.sets.generated?.['FD-cls']);
    const larger = await evaluateCommand({ ...options, stepSize: 2e-4 });
    expect(larger).toMatchObject({ stepSize: 2e-4, file: join(run, 'evaluations', 'step-00000001-steps-6-step-size-0.0002.json') });
    expect(larger.sets.generated?.['FD-cls']).not.toBeCloseTo(byDefault.sets.generated?.['FD-cls'] as number, 6);
    expect(JSON.parse(await readFile(byDefault.file, 'utf8')).stepSize).toBe(5e-5);
    await expect(evaluateCommand({ ...options, stepSize: Number.NaN })).rejects.toThrow('--step-size must be a number > 0, got NaN');

    // export --step-size: the step the served model samples with, and the metrics of its evaluation.
    const { sampleSteps: _custom, ...atDefaultSteps } = options;
    const chosen = await evaluateCommand({ ...atDefaultSteps, stepSize: 2e-4 });
    // The ancestral sampler by name: one step per change of level by default (3 levels: 2), its own file.
    const ancestral = await evaluateCommand({ ...atDefaultSteps, sampler: 'ancestral' });
    expect(ancestral).toMatchObject({
      sampler: 'ancestral',
      sampleSteps: 2,
      file: join(run, 'evaluations', 'step-00000001-sampler-ancestral.json'),
    });
    expect(ancestral.sets.generated?.['FD-cls']).not.toBeCloseTo(chosen.sets.generated?.['FD-cls'] as number, 6);
    expect(byDefault.sampler).toBe('langevin');
    // export --sampler: the sampler the served model uses by default, and the metrics of its evaluation.
    const servedAncestral = join(root, 'models', 'ancestral');
    await exportCommand({ run, to: servedAncestral, sampler: 'ancestral', trainRecords: records, energyReference: 4 });
    const ancestralManifest = (await loadCheckpoint(servedAncestral)).manifest;
    expect(ancestralManifest.config).toMatchObject({ sampling: { sampler: 'ancestral', stepSize: 5e-5 } });
    expect(ancestralManifest.metrics?.['FD-cls']).toBe(ancestral.sets.generated?.['FD-cls']);
    // export --sample-steps: fewer steps served by default (levels 0 and 2 of 3), with their evaluation's metrics.
    const short = await evaluateCommand({ ...atDefaultSteps, sampler: 'ancestral', sampleSteps: 1 });
    expect(short.file).toBe(join(run, 'evaluations', 'step-00000001-sampler-ancestral-steps-1.json'));
    expect(short.sets.generated?.['FD-cls']).not.toBeCloseTo(ancestral.sets.generated?.['FD-cls'] as number, 6);
    const servedShort = join(root, 'models', 'ancestral-short');
    await exportCommand({ run, to: servedShort, sampler: 'ancestral', sampleSteps: 1, trainRecords: records, energyReference: 4 });
    const shortManifest = (await loadCheckpoint(servedShort)).manifest;
    expect(shortManifest.config).toMatchObject({ sampling: { sampler: 'ancestral', steps: 1 } });
    expect(shortManifest.metrics?.['FD-cls']).toBe(short.sets.generated?.['FD-cls']);
    await expect(exportCommand({ run, to: join(root, 'models', 'y'), sampleSteps: 0 })).rejects.toThrow(
      /sampling.steps must be an integer ≥ 1/,
    );
    await expect(exportCommand({ run, to: join(root, 'models', 'x'), sampler: 'ddim' })).rejects.toThrow(
      /--sampler ddim does not apply to .*: an energy run takes --sampler langevin or ancestral/,
    );
    const to = join(root, 'models', 'tuned');
    await exportCommand({ run, to, stepSize: 2e-4, trainRecords: records, energyReference: 4 });
    const { manifest } = await loadCheckpoint(to);
    expect(manifest.config).toMatchObject({ objective: 'dsm', sampling: { stepsPerLevel: 10, stepSize: 2e-4 } });
    expect(manifest.metrics?.['FD-cls']).toBe(chosen.sets.generated?.['FD-cls']);
    await expect(exportCommand({ run, to, force: true, stepSize: -1 })).rejects.toThrow(/stepSize must be a finite number > 0/);
    await expect(exportCommand({ run: classifier, to: join(root, 'models', 'c'), stepSize: 2e-4 })).rejects.toThrow(
      /--step-size applies to score-matching energy runs/,
    );
    await expect(exportCommand({ run, to: join(root, 'models', 'c'), guidance: 4 })).rejects.toThrow(
      /--guidance applies to class-conditional diffusion runs, not to energy runs/,
    );
    await expect(exportCommand({ run, to: join(root, 'models', 'c'), guidance: 4, guidanceRescale: 0.7 })).rejects.toThrow(
      /--guidance and --guidance-rescale apply to class-conditional diffusion runs, not to energy runs/,
    );
    expect(existsSync(join(root, 'models', 'c'))).toBe(false);
  });
});

describe('train → interrupt → resume → export → sample → evaluate', () => {
  let root: string;
  let straight: string;

  beforeAll(async () => {
    root = await tempDir();
    straight = join(root, 'straight');
    const result = await trainCommand(diffusionRun(straight));
    expect(result).toMatchObject({ step: 4, stoppedBy: 'done' });
    // Generous: a loaded 2-core CI box can be many times slower than the ~10 s this takes alone.
  }, 600_000);

  it('writes metrics, sample grids and checkpoints', async () => {
    const dir = new RunDirectory(straight);
    expect(await dir.checkpointSteps()).toEqual([2, 4]);
    const metrics = await dir.readMetrics();
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(metrics[0]?.lr).toBeCloseTo(1e-3, 12);
    expect(metrics[1]?.lr).toBeCloseTo(2e-3, 12);
    for (const m of metrics) {
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.imagesPerSecond).toBeGreaterThan(0);
    }
    const png = await readFile(join(straight, 'samples', 'step-00000004.png'));
    expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('an interrupted run leaves a loadable checkpoint, and resuming it equals the uninterrupted run', async () => {
    const out = join(root, 'interrupted');
    const controller = new AbortController();
    const first = await trainCommand(
      diffusionRun(out, { signal: controller.signal, progress: abortAt(1, controller), checkpointEvery: 100 }),
    );
    expect(first).toMatchObject({ step: 1, stoppedBy: 'signal' });
    const saved = await loadCheckpoint(first.checkpoint as string);
    expect(saved.manifest).toMatchObject({ format: 1, kind: 'diffusion', step: 1 });
    expect(Object.keys(saved.models).sort()).toEqual(['ema', 'model']);
    for (const m of Object.values(saved.models)) m.dispose();
    tf.dispose(Object.values(saved.tensors));

    // The interrupted run's folder is never reused without --resume.
    await expect(trainCommand(diffusionRun(out))).rejects.toThrow(ValidationError);
    await expect(trainCommand(diffusionRun(out))).rejects.toThrow(/--resume/);

    // Arithmetic settings are fixed for the run; an attempt to change one is an error, and nothing moves.
    await expect(trainCommand({ out, resume: true, records, lr: 1e-2 } as TrainCommandOptions)).rejects.toThrow(
      /--lr 0\.002; it cannot change on --resume/,
    );
    // Logistics and the micro-batch (the same batch split otherwise) may change.
    const resumed = await trainCommand({ out, resume: true, records, checkpointEvery: 2, microBatch: 4 } as TrainCommandOptions);
    expect(resumed).toMatchObject({ step: 4, stoppedBy: 'done' });
    expect(await new RunDirectory(out).readInfo()).toMatchObject({ checkpointEvery: 2, optimization: { microBatch: 4, lr: 2e-3 } });
    const a = await modelWeights(join(straight, 'checkpoints', 'step-00000004'));
    const b = await modelWeights(resumed.checkpoint as string);
    expect(maxAbsDiff(a.model, b.model)).toBeLessThan(1e-5);
    expect(maxAbsDiff(a.ema, b.ema)).toBeLessThan(1e-5);
    // And training did move the weights (the comparison could fail).
    const start = await modelWeights(first.checkpoint as string);
    expect(maxAbsDiff(start.model, b.model)).toBeGreaterThan(1e-4);

    const lossA = (await new RunDirectory(straight).readMetrics()).map((m) => m.loss as number);
    const lossB = (await new RunDirectory(out).readMetrics()).map((m) => m.loss as number);
    expect(lossB).toHaveLength(4);
    lossB.forEach((l, i) => {
      expect(l).toBeCloseTo(lossA[i] as number, 5);
    });
  });

  it('anneals a run that is under way: a decay added on --resume starts at the resume step and ends at the last', async () => {
    const out = join(root, 'annealed');
    await trainCommand(diffusionRun(out, { steps: 2, warmup: 0, sampleEvery: 0 }));
    await trainCommand({ out, resume: true, records, steps: 6, lrDecay: 'linear' } as TrainCommandOptions);
    const info = await new RunDirectory(out).readInfo();
    expect(info.optimization.lrDecay).toEqual({ kind: 'linear', startStep: 2, endStep: 6, minLr: 0 });
    const lrs = (await new RunDirectory(out).readMetrics()).map((m) => m.lr as number);
    // 0-based steps 0..5: constant 2e-3, then 2e-3 · (1 − (s − 2)/4).
    [2e-3, 2e-3, 2e-3, 1.5e-3, 1e-3, 0.5e-3].forEach((lr, i) => {
      expect(lrs[i]).toBeCloseTo(lr, 12);
    });
    // Stretching the finished decay to 7 steps raises the rate again (0 → 2e-3 · (1 − 4/5) at step 6): the trainer says so.
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    await trainCommand({ out, resume: true, records, steps: 7, logger } as TrainCommandOptions);
    expect(warnings).toEqual([expect.stringMatching(/learning rate at step 6 changes from 0\.00 to 0\.000400/)]);
  });

  it('refuses a --steps target behind the run, and keeps the stored target', async () => {
    const out = join(root, 'behind');
    await trainCommand(diffusionRun(out, { steps: 3, sampleEvery: 0 }));
    await expect(trainCommand({ out, resume: true, records, steps: 2 } as TrainCommandOptions)).rejects.toThrow(
      /--steps 2 is behind the run, which is at step 3/,
    );
    expect((await new RunDirectory(out).readInfo()).steps).toBe(3);
    await expect(trainCommand({ out, resume: true, records, steps: 4 } as TrainCommandOptions)).resolves.toMatchObject({ step: 4 });
    expect((await new RunDirectory(out).readInfo()).steps).toBe(4);
  });

  it('exports the EMA weights in the API layout and refuses to overwrite without force', async () => {
    const to = join(root, 'models', 'diffusion-test');
    const result = await exportCommand({ run: straight, to });
    expect(result.step).toBe(4);
    const exported = await loadCheckpoint(to);
    expect(exported.manifest).toMatchObject({ format: 1, kind: 'diffusion', step: 4, dataset: 'cifar10' });
    expect(Object.keys(exported.models)).toEqual(['model']);
    const ema = (await modelWeights(join(straight, 'checkpoints', 'step-00000004'))).ema;
    const weights = await Promise.all(
      (exported.models.model as { getWeights(): tf.Tensor[] }).getWeights().map(async (w) => (await w.data()) as Float32Array),
    );
    expect(maxAbsDiff(weights, ema)).toBe(0);
    exported.models.model?.dispose();
    await expect(exportCommand({ run: straight, to })).rejects.toThrow(/--force/);
    await expect(exportCommand({ run: straight, to, force: true })).resolves.toMatchObject({ step: 4 });
    // --sampler: the served default sampler, written into the diffusion config.
    const solver = await exportCommand({ run: straight, to, force: true, sampler: 'dpm-solver++' });
    expect(solver.manifest.config).toMatchObject({ sampler: 'dpm-solver++' });
    // --guidance: class-conditional models only (this one is unconditional); energy runs refuse it too.
    await expect(exportCommand({ run: straight, to, force: true, guidance: 4 })).rejects.toThrow(
      /guidance applies to class-conditional models only/,
    );
    await expect(exportCommand({ run: straight, to, force: true, guidanceRescale: 0.7 })).rejects.toThrow(
      /guidanceRescale applies to class-conditional models only/,
    );
  });

  it('starts a new run from an exported model or a run (--init-from): its architecture and weights, a fresh step count', async () => {
    const exported = join(root, 'models', 'init-source');
    await exportCommand({ run: straight, to: exported, force: true });
    const source = (await modelWeights(exported)).model as Float32Array[];
    const straightInfo = await new RunDirectory(straight).readInfo();
    // lr 1e-30: one Adam step moves no weight by more than ~1e-30, so the checkpoint shows the start.
    const fineTune = (out: string, from: string, extra: Partial<TrainCommandOptions> = {}): TrainCommandOptions => ({
      out,
      initFrom: from,
      records,
      steps: 1,
      batch: 4,
      lr: 1e-30,
      warmup: 0,
      seed: 3,
      checkpointEvery: 1,
      sampleEvery: 0,
      ...extra,
    });
    for (const [name, from] of [
      ['from-export', exported],
      ['from-run', straight],
    ] as const) {
      const out = join(root, name);
      await expect(trainCommand(fineTune(out, from))).resolves.toMatchObject({ step: 1 });
      const info = await new RunDirectory(out).readInfo();
      expect(info.kind).toBe('diffusion');
      expect(info.task).toEqual(straightInfo.task);
      expect(info.initFrom).toEqual({ path: from, step: 4 });
      const started = await modelWeights(join(out, 'checkpoints', 'step-00000001'));
      expect(maxAbsDiff(started.model as Float32Array[], source)).toBeLessThan(1e-12);
      // The EMA update mixes the same weights (d·w + (1 − d)·w): float32 rounding only.
      expect(maxAbsDiff(started.ema as Float32Array[], source)).toBeLessThan(1e-6);
    }
    // Killed before its first checkpoint: --resume starts again from the source's weights, not random ones.
    const killed = join(root, 'from-export');
    await rm(join(killed, 'checkpoints'), { recursive: true });
    await expect(trainCommand({ out: killed, resume: true, records })).resolves.toMatchObject({ step: 1 });
    const restarted = await modelWeights(join(killed, 'checkpoints', 'step-00000001'));
    expect(maxAbsDiff(restarted.model as Float32Array[], source)).toBeLessThan(1e-12);
    await expect(trainCommand(fineTune(join(root, 'init-preset'), exported, { preset: 'tiny' }))).rejects.toThrow(
      /takes the architecture .* leave out --preset/,
    );
    await expect(trainCommand(fineTune(join(root, 'init-noise'), exported, { noise: { max: 50 }, stepSize: 1e-5 }))).rejects.toThrow(
      /leave out --sigma-max\/--sigma-min\/--noise-levels, --step-size$/,
    );
    await expect(trainCommand(fineTune(join(root, 'init-kind'), exported, { model: 'classifier' }))).rejects.toThrow(
      /holds a diffusion model; --model classifier/,
    );
    await expect(trainCommand(fineTune(join(root, 'from-export'), exported, { resume: true }))).rejects.toThrow(/starts a new run/);
    await expect(trainCommand(fineTune(join(root, 'init-missing'), join(root, 'nowhere')))).rejects.toThrow(/neither a run/);
  });

  it('builds a score-matching energy on a diffusion model’s UNet (--model energy --objective dsm --init-from)', async () => {
    const exported = join(root, 'models', 'energy-body-source');
    await exportCommand({ run: straight, to: exported, force: true });
    const source = (await modelWeights(exported)).model as Float32Array[];
    const energyRun = (out: string, extra: Partial<TrainCommandOptions> = {}): TrainCommandOptions => ({
      out,
      model: 'energy',
      objective: 'dsm',
      initFrom: exported,
      noise: { max: 20, min: 0.05, levels: 4 },
      records,
      steps: 1,
      batch: 4,
      lr: 1e-30,
      warmup: 0,
      checkpointEvery: 1,
      sampleEvery: 0,
      ...extra,
    });
    const out = join(root, 'energy-on-unet');
    await expect(trainCommand(energyRun(out))).resolves.toMatchObject({ step: 1 });
    const info = await new RunDirectory(out).readInfo();
    expect(info.kind).toBe('energy');
    const config = parseScoreEnergyConfig(info.task);
    expect(config.net.architecture).toBe('unet');
    // The UNet and the schedule its timesteps come from are the diffusion model's; the levels are the run's.
    expect(config.net).toMatchObject({ unet: { baseChannels: 8, channelMults: [1, 2] }, schedule: { kind: 'linear', timesteps: 50 } });
    expect(config.noise).toEqual({ max: 20, min: 0.05, levels: 4 });
    expect(maxAbsDiff((await modelWeights(join(out, 'checkpoints', 'step-00000001'))).model as Float32Array[], source)).toBeLessThan(1e-12);
    // Killed before its first checkpoint: --resume builds the body from the diffusion model again.
    await rm(join(out, 'checkpoints'), { recursive: true });
    await expect(trainCommand({ out, resume: true, records })).resolves.toMatchObject({ step: 1 });
    expect(maxAbsDiff((await modelWeights(join(out, 'checkpoints', 'step-00000001'))).model as Float32Array[], source)).toBeLessThan(1e-12);
    await expect(trainCommand(energyRun(join(root, 'energy-on-unet-cd'), { objective: undefined }))).rejects.toThrow(
      /builds on its UNet only with --objective dsm/,
    );
    await expect(trainCommand(energyRun(join(root, 'energy-on-unet-preset'), { preset: 'unet-small' }))).rejects.toThrow(
      /takes the UNet of .* leave out --preset$/,
    );
    expect(existsSync(join(root, 'energy-on-unet-cd'))).toBe(false);

    // A class-conditional source, whose weights do not fit the energy's UNet as they are: the body is
    // its UNet at the null class (unconditionalUNet), in a new run and on a restart before any checkpoint.
    const unetConfig = resolveUNetConfig({ ...MICRO_DIFFUSION.unet, preset: 'tiny', numClasses: 3 } as UNetConfigInput);
    const conditional = createUNet(unetConfig);
    const conditionalDir = join(root, 'models', 'conditional-source');
    const diffusionConfig = resolveDiffusionConfig({
      unet: unetConfig,
      schedule: MICRO_DIFFUSION.schedule as { kind: 'linear'; timesteps: 50 },
    });
    await saveCheckpoint(conditionalDir, {
      manifest: { format: 1, kind: 'diffusion', config: { ...diffusionConfig }, step: 7, created: new Date().toISOString() },
      models: { model: conditional },
    });
    const body = unconditionalUNet(conditional, unetConfig).model;
    const expected = await Promise.all(body.getWeights().map(async (w) => (await w.data()) as Float32Array));
    body.dispose();
    conditional.dispose();
    const fromConditional = join(root, 'energy-on-conditional-unet');
    await expect(trainCommand(energyRun(fromConditional, { initFrom: conditionalDir }))).resolves.toMatchObject({ step: 1 });
    const firstRun = (await modelWeights(join(fromConditional, 'checkpoints', 'step-00000001'))).model as Float32Array[];
    expect(maxAbsDiff(firstRun, expected)).toBeLessThan(1e-12);
    await rm(join(fromConditional, 'checkpoints'), { recursive: true });
    await expect(trainCommand({ out: fromConditional, resume: true, records })).resolves.toMatchObject({ step: 1 });
    const restarted = (await modelWeights(join(fromConditional, 'checkpoints', 'step-00000001'))).model as Float32Array[];
    expect(maxAbsDiff(restarted, expected)).toBeLessThan(1e-12);
  });

  it('writes a sample grid from a run', async () => {
    const out = join(root, 'grid.png');
    await sampleCommand({ run: straight, out, n: 4, steps: 2 });
    const png = await readFile(out);
    expect(Array.from(png.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]);
    await expect(sampleCommand({ run: straight, out: join(root, 'other.png'), n: 4, stepSize: 2e-5 })).rejects.toThrow(
      /--step-size needs a score-matching energy run \(annealed Langevin\); .* is a diffusion run/,
    );
    expect(existsSync(join(root, 'other.png'))).toBe(false);
  });

  it('trains a classifier from a data folder and evaluates a run against it (cached real statistics)', async () => {
    const dataDir = await writeCifarDir(await tempDir(), 12);
    const classifierRun = join(root, 'classifier');
    await trainCommand({
      out: classifierRun,
      model: 'classifier',
      taskConfig: {
        net: { inputShape: [32, 32, 3], numClasses: 10, channels: [4], featureUnits: 6, dropout: 0, output: 'softmax', seed: 1 },
      },
      dataDir,
      env: {},
      steps: 2,
      batch: 8,
    });
    const cacheDir = await tempDir();
    const options = {
      run: straight,
      classifier: classifierRun,
      n: 6,
      realCount: 30,
      batch: 6,
      sampleSteps: 2,
      cacheDir,
      trainRecords: records,
      testRecords,
    };
    const report = await evaluateCommand(options);
    expect(Object.keys(report.sets)).toEqual(['generated', 'test', 'noise']);
    for (const set of Object.values(report.sets)) {
      expect(set.count).toBe(6);
      expect(set.classHistogram.reduce((a, b) => a + b, 0)).toBe(6);
      expect(set['FD-cls']).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(set['KID-cls'].mean)).toBe(true);
      expect(set['IS-cls']).toBeGreaterThanOrEqual(1 - 1e-9);
    }
    expect(report.reference).toMatchObject({ count: 30, cached: false });
    expect(report.table).toContain('FD-cls');
    expect(report).toMatchObject({ step: 4, sampleSteps: 2, guidance: 1, file: join(straight, 'evaluations', 'step-00000004.json') });
    expect(existsSync(report.file)).toBe(true);
    // The export manifest carries the evaluation figures of the exported step, and the mean training loss up to it.
    const exported = await exportCommand({ run: straight, to: join(root, 'models', 'evaluated'), force: true });
    expect(exported.manifest.metrics?.['FD-cls']).toBeCloseTo(report.sets.generated?.['FD-cls'] as number, 10);
    const losses = (await new RunDirectory(straight).readMetrics()).map((m) => m.loss as number);
    expect(exported.manifest.metrics?.train_loss).toBeCloseTo(losses.reduce((a, b) => a + b, 0) / 4, 10);

    // An older checkpoint is evaluated on request, into its own file; exporting that step carries its figures,
    // and a step nobody evaluated carries none (never another step's).
    const older = await evaluateCommand({ ...options, step: 2 });
    expect(older).toMatchObject({ step: 2, file: join(straight, 'evaluations', 'step-00000002.json') });
    expect(older.sets.generated?.['FD-cls']).not.toBeCloseTo(report.sets.generated?.['FD-cls'] as number, 6);
    const exportedOlder = await exportCommand({ run: straight, to: join(root, 'models', 'older'), step: 2 });
    expect(exportedOlder.manifest.metrics?.['FD-cls']).toBeCloseTo(older.sets.generated?.['FD-cls'] as number, 10);
    expect(exportedOlder.manifest.metrics?.train_loss).toBeCloseTo(((losses[0] as number) + (losses[1] as number)) / 2, 10);
    await rm(older.file);
    const unevaluated = await exportCommand({ run: straight, to: join(root, 'models', 'older'), step: 2, force: true });
    expect(unevaluated.manifest.metrics?.['FD-cls']).toBeUndefined();
    // Guidance needs a class-conditional run; this one is not (refused before any data is read or sample drawn).
    const logged: string[] = [];
    const logger = { ...silentLogger, info: (message: string) => logged.push(message) };
    await expect(evaluateCommand({ ...options, guidance: 3, logger })).rejects.toThrow(/class-conditional/);
    await expect(evaluateCommand({ ...options, guidanceRescale: 0.7, logger })).rejects.toThrow(
      '--guidance-rescale rescales guidance: give --guidance G (≠ 1) too',
    );
    await expect(evaluateCommand({ ...options, guidance: 3, guidanceRescale: 1.5, logger })).rejects.toThrow(
      '--guidance-rescale must be a number in [0, 1], got 1.5',
    );
    // A rescaled guided evaluation has its own file, beside the plain guided one.
    const fileOf = (guidanceRescale?: number) =>
      resolveEvaluation(new RunDirectory('/r'), undefined, 5, {
        guidance: 8,
        ...(guidanceRescale === undefined ? {} : { guidanceRescale }),
      }).file;
    expect(fileOf()).toBe(join('/r', 'evaluations', 'step-00000005-guidance-8.json'));
    expect(fileOf(0.7)).toBe(join('/r', 'evaluations', 'step-00000005-guidance-8-rescale-0.7.json'));
    expect(logged).toEqual([]);
    // Another number of sampling steps goes to its own file: the default evaluation (the manifest's) stays.
    const longer = await evaluateCommand({ ...options, sampleSteps: 3 });
    expect(longer).toMatchObject({ sampleSteps: 3, file: join(straight, 'evaluations', 'step-00000004-steps-3.json') });
    expect(JSON.parse(await readFile(report.file, 'utf8')).sampleSteps).toBe(2);
    // So does another sampler, which the record names (DDIM by name is the default evaluation). Three
    // steps: DPM-Solver++'s first and last steps are DDIM's, so two would draw the same samples.
    const solver = await evaluateCommand({ ...options, sampleSteps: 3, sampler: 'dpm-solver++' });
    expect(solver).toMatchObject({
      sampler: 'dpm-solver++',
      sampleSteps: 3,
      file: join(straight, 'evaluations', 'step-00000004-sampler-dpm-solver++-steps-3.json'),
    });
    expect(solver.sets.generated?.['FD-cls']).not.toBeCloseTo(longer.sets.generated?.['FD-cls'] as number, 6);
    const named = await evaluateCommand({ ...options, sampler: 'ddim' });
    expect(named.file).toBe(report.file);
    expect(named).not.toHaveProperty('sampler');
    expect(named.sets.generated?.['FD-cls']).toBe(report.sets.generated?.['FD-cls']);
    // A run whose config names a sampler (a run --init-from an export that does) samples with it by
    // default, into the default file; DDIM is then the other sampler, with its own file.
    const ownSampler = join(root, 'own-sampler');
    await cp(straight, ownSampler, { recursive: true });
    const runJson = JSON.parse(await readFile(join(ownSampler, 'run.json'), 'utf8')) as { task: Record<string, unknown> };
    await writeFile(join(ownSampler, 'run.json'), JSON.stringify({ ...runJson, task: { ...runJson.task, sampler: 'dpm-solver++' } }));
    const byConfig = await evaluateCommand({ ...options, run: ownSampler, sampleSteps: 3 });
    expect(byConfig).toMatchObject({ sampler: 'dpm-solver++', file: join(ownSampler, 'evaluations', 'step-00000004-steps-3.json') });
    expect(byConfig.sets.generated?.['FD-cls']).toBe(solver.sets.generated?.['FD-cls']);
    const asDdim = await evaluateCommand({ ...options, run: ownSampler, sampleSteps: 3, sampler: 'ddim' });
    expect(asDdim.file).toBe(join(ownSampler, 'evaluations', 'step-00000004-sampler-ddim-steps-3.json'));
    expect(asDdim).not.toHaveProperty('sampler');
    expect(asDdim.sets.generated?.['FD-cls']).toBe(longer.sets.generated?.['FD-cls']);
    // KID over smaller subsets than the sets, recorded; the default here (n = 6 of 30 real) records none.
    const subsets = await evaluateCommand({ ...options, kidSubset: 3 });
    expect(subsets).toMatchObject({ kidSubsetSize: 3, file: report.file });
    expect(report).not.toHaveProperty('kidSubsetSize');
    expect(subsets.sets.generated?.['FD-cls']).toBe(report.sets.generated?.['FD-cls']);
    expect(subsets.sets.generated?.['KID-cls'].std).toBeGreaterThan(0);
    await expect(evaluateCommand({ ...options, kidSubset: 7 })).rejects.toThrow('--kid-subset must be an integer in [2, 6]');
    // --sampler names one of the run's samplers: a classifier run has none, a diffusion run refuses an
    // energy model's, each naming what it takes, before reading any data.
    await expect(evaluateCommand({ run: classifierRun, sampler: 'ddim', cacheDir, logger })).rejects.toThrow(
      /--sampler ddim does not apply to .*: a classifier run takes no --sampler/,
    );
    await expect(evaluateCommand({ ...options, sampler: 'langevin', logger })).rejects.toThrow(
      /--sampler langevin does not apply to .*: a diffusion run takes --sampler ddim or dpm-solver\+\+/,
    );
    // --step-size is for score-matching energy runs (annealed Langevin): refused likewise.
    await expect(evaluateCommand({ ...options, stepSize: 2e-5, logger })).rejects.toThrow(
      /--step-size needs a score-matching energy run \(annealed Langevin\); .* is a diffusion run/,
    );
    await expect(evaluateCommand({ run: classifierRun, stepSize: 2e-5, cacheDir, logger })).rejects.toThrow(
      /--step-size needs a score-matching energy run \(annealed Langevin\); .* is a classifier run/,
    );
    expect(logged).toEqual([]);
    expect(report).not.toHaveProperty('stepSize');
    const again = await evaluateCommand(options);
    expect(again.reference.cached).toBe(true);
    expect(again.sets.test?.['FD-cls']).toBeCloseTo(report.sets.test?.['FD-cls'] as number, 6);

    const ownOptions = { run: classifierRun, n: 6, realCount: 30, batch: 6, cacheDir, trainRecords: records, testRecords };
    const own = await evaluateCommand(ownOptions);
    // Hand count: the run's EMA classifier on all 24 test images, argmax against the labels.
    const { model } = await loadClassifier(classifierRun);
    const batch = recordsToBatch(
      testRecords,
      Array.from({ length: testRecords.count }, (_, i) => i),
      new Rng(0),
    );
    const predicted = tf.tidy(() => tf.argMax(model.predict(batch.images) as tf.Tensor, -1));
    const hits = Array.from(await predicted.data()).filter((c, i) => c === testRecords.labels[i]).length;
    tf.dispose([predicted, batch.images, batch.labels]);
    model.dispose();
    expect(own.accuracy).toMatchObject({ count: 24, correct: hits });
    expect(own.testAccuracy).toBeCloseTo(hits / 24, 12);
    expect(own.table).toContain(`(${hits}/24 test images)`);
    expect(own.sets.generated).toBeUndefined();

    // export --flip-average before evaluate --flip-average: the bundle says so, and keeps the run's
    // single-view accuracy under that name. It is evaluated as served: argmax of the mean
    // probabilities of each image and its mirror image.
    const flipped = join(root, 'models', 'flip-averaged');
    const flipExport = await exportCommand({ run: classifierRun, to: flipped, flipAverage: true });
    expect(flipExport.manifest.config.flipAverage).toBe(true);
    expect(flipExport.manifest.metrics?.singleViewTestAccuracy).toBe(own.testAccuracy);
    expect(flipExport.manifest.metrics).not.toHaveProperty('testAccuracy');
    expect((await loadClassifier(classifierRun)).flipAverage).toBe(false);
    const served = await loadClassifier(flipped);
    expect(served.flipAverage).toBe(true);
    const views = recordsToBatch(
      testRecords,
      Array.from({ length: testRecords.count }, (_, i) => i),
      new Rng(0),
    );
    const [plainViews, mirrorViews] = tf.tidy(() => [
      served.model.predict(views.images) as tf.Tensor,
      served.model.predict(tf.reverse(views.images, 2)) as tf.Tensor,
    ]);
    const [p, q] = [await plainViews.data(), await mirrorViews.data()];
    // Its features too are the mean over the two views, and real-data caches keep the two apart.
    const averaged = new FeatureExtractor(served.model, served);
    const single = new FeatureExtractor(served.model);
    const [both, plainOnly, mirrorOnly] = [
      await averaged.run(views.images as tf.Tensor4D),
      await single.run(views.images as tf.Tensor4D),
      await single.run(tf.reverse(views.images, 2) as tf.Tensor4D),
    ];
    const meanFeatures = plainOnly.features.map((f, i) => (f + mirrorOnly.features[i]!) / 2);
    expect(maxAbsDiff([both.features], [meanFeatures])).toBeLessThan(1e-5);
    const meanProbabilities = Float32Array.from(p, (v, i) => (v + q[i]!) / 2);
    expect(maxAbsDiff([both.probabilities], [meanProbabilities])).toBeLessThan(1e-6);
    expect(await averaged.fingerprint()).not.toBe(await single.fingerprint());
    tf.dispose([plainViews, mirrorViews, views.images, views.labels]);
    averaged.dispose();
    let meanHits = 0;
    for (let i = 0; i < 24; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (p[i * 10 + c]! + q[i * 10 + c]! > p[i * 10 + best]! + q[i * 10 + best]!) best = c;
      if (best === testRecords.labels[i]) meanHits += 1;
    }
    const flipReport = await evaluateClassifierCommand({ classifier: flipped, testRecords, cacheDir });
    expect(flipReport.accuracy).toMatchObject({ count: 24, correct: meanHits });
    // The run measured the same way (its own file), which a later export takes its testAccuracy from.
    const runFlip = await evaluateCommand({ ...ownOptions, flipAverage: true });
    expect(runFlip).toMatchObject({ flipAverage: true, file: join(classifierRun, 'evaluations', 'step-00000002-flip-average.json') });
    expect(runFlip.accuracy).toMatchObject({ count: 24, correct: meanHits });
    // Its test-set IS-cls is that of the first n = 6 mean probabilities.
    expect(runFlip.sets.test?.['IS-cls']).toBeCloseTo(inceptionScore(meanProbabilities.slice(0, 60), 6, 10), 5);
    const afterEvaluation = await exportCommand({ run: classifierRun, to: flipped, force: true, flipAverage: true });
    expect(afterEvaluation.manifest.metrics).toMatchObject({ testAccuracy: meanHits / 24, singleViewTestAccuracy: own.testAccuracy });
    await expect(evaluateCommand({ ...options, flipAverage: true })).rejects.toThrow(
      /--flip-average applies to a classifier run evaluated as itself; .* is a diffusion run/,
    );
    await expect(exportCommand({ run: straight, to: join(root, 'models', 'f'), flipAverage: true })).rejects.toThrow(
      /--flip-average applies to classifier runs, not to diffusion runs/,
    );
  });
});

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, saveCheckpoint, ValidationError } from '@lab/core';
import { LANGEVIN_DEFAULTS } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND, useTestBackend } from '../../../testing/backend.js';
import {
  type ContrastiveEnergyConfig,
  createEnergyNet,
  parseContrastiveEnergyConfig,
  parseEnergyConfig,
  resolveContrastiveEnergyConfig,
  resolveEnergyNetConfig,
  resolveScoreEnergyConfig,
  sampleContrastiveEnergy,
  sampleScoreEnergy,
} from '../src/index.js';
import { createEnergyProvider } from '../src/plugin/index.js';

/**
 * Outputs of the two Langevin assemblies `sampleContrastiveEnergy` replaced (the API provider's
 * and the trainer's `EnergyTask.sample`), recorded on tfjs-backend-cpu before they were deleted.
 */
type Golden = Record<string, { n: number; every7: number[]; sumAbs: number }>;
const GOLDEN = JSON.parse(readFileSync(new URL('./fixtures/langevin-golden.json', import.meta.url), 'utf8')) as Golden;

const net = resolveEnergyNetConfig({ preset: 'small', inputShape: [8, 8, 3], channels: [8, 8, 8, 8], hiddenUnits: [8] });
/** A manifest config as the trainer wrote it before configs had a version. */
const STORED = { net, langevin: { steps: 60, stepSize: 10, noiseStd: 0.005, gradClip: 0.03 }, sampleSteps: 3 };

function seededNet(): LayersModel {
  const model = createEnergyNet(net);
  const rng = new Rng(13);
  const weights = model.getWeights().map((w) => rng.normal([...w.shape], 0, 0.1));
  model.setWeights(weights);
  tf.dispose(weights);
  return model;
}

let root = '';
beforeAll(async () => {
  await useTestBackend();
  root = await mkdtemp(join(tmpdir(), 'genlab-cd-'));
  const model = seededNet();
  await saveCheckpoint(join(root, 'cd'), {
    manifest: { format: 1, kind: 'energy', config: STORED, step: 0, created: new Date(0).toISOString() },
    models: { model },
  });
  await saveCheckpoint(join(root, 'bad'), {
    manifest: { format: 1, kind: 'energy', config: { ...STORED, langevin: { stepSize: -1 } }, step: 0, created: new Date(0).toISOString() },
    models: { model },
  });
  model.dispose();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectGolden(key: string, x: tf.Tensor): Promise<void> {
  const golden = GOLDEN[key];
  if (!golden) throw new Error(`no golden values for ${key}`);
  const values = Array.from(await x.data());
  x.dispose();
  expect(values.length).toBe(golden.n);
  const every7 = values.filter((_, i) => i % 7 === 0);
  expect(Math.max(...every7.map((v, i) => Math.abs(v - (golden.every7[i] as number)))), key).toBeLessThan(1e-6);
  expect(Math.abs(values.reduce((s, v) => s + Math.abs(v), 0) - golden.sumAbs), key).toBeLessThan(1e-4);
}

describe.runIf(TEST_BACKEND === 'cpu')('sampleContrastiveEnergy gives the samples of the code it replaced', () => {
  it('through the API provider', async () => {
    const provider = createEnergyProvider({ id: 'e', dir: join(root, 'cd') });
    await provider.load();
    await expectGolden('provider.energy', (await provider.sample?.({ count: 2, seed: 3, sampler: 'langevin', steps: 5 }, {})) as tf.Tensor);
    provider.dispose();
  });

  it("as the trainer's previews", async () => {
    const model = seededNet();
    const config = resolveContrastiveEnergyConfig({ net, langevin: { stepSize: 10, noiseStd: 0.005, gradClip: 0.03 }, sampleSteps: 4 });
    await expectGolden('trainer.energy', await sampleContrastiveEnergy(model, config, { count: 3, rng: new Rng(9) }));
    model.dispose();
  });
});

describe('sampleContrastiveEnergy', () => {
  it('leaves no tensor behind but its result, and refuses guidance', async () => {
    const model = seededNet();
    const config = parseContrastiveEnergyConfig(STORED);
    (await sampleContrastiveEnergy(model, config, { count: 2, rng: new Rng(1), steps: 2 })).dispose();
    const before = tf.memory().numTensors;
    const x = await sampleContrastiveEnergy(model, config, { count: 2, rng: new Rng(1), steps: 2, guidance: 1 });
    expect(x.shape).toEqual([2, 8, 8, 3]);
    expect(tf.memory().numTensors).toBe(before + 1);
    x.dispose();
    await expect(sampleContrastiveEnergy(model, config, { count: 2, rng: new Rng(1), guidance: 3 })).rejects.toThrow(
      /guidance needs a class-conditional diffusion model/,
    );
    const dsm = resolveScoreEnergyConfig({ net: { preset: 'small', inputShape: [8, 8, 3] }, noise: { levels: 2 } });
    await expect(sampleScoreEnergy(model, dsm, { count: 1, rng: new Rng(1), guidance: 2 })).rejects.toThrow(ValidationError);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('contrastive-divergence energy config', () => {
  const fieldOf = (run: () => unknown): unknown => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).details?.field;
    }
    throw new Error('did not throw');
  };

  it('defaults: small net, α 0.1, data noise 0.005, LANGEVIN_DEFAULTS, 256 sample steps, an 8192-slot buffer', () => {
    const config: ContrastiveEnergyConfig = resolveContrastiveEnergyConfig();
    expect(config).toMatchObject({
      version: 1,
      alpha: 0.1,
      dataNoise: 0.005,
      sampleSteps: 256,
      replay: { capacity: 8192, reinitProbability: 0.05 },
      langevin: {
        steps: LANGEVIN_DEFAULTS.steps,
        stepSize: LANGEVIN_DEFAULTS.stepSize,
        noiseStd: LANGEVIN_DEFAULTS.noiseStd,
        gradClip: LANGEVIN_DEFAULTS.gradClip,
      },
    });
    expect(parseContrastiveEnergyConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it('reads a config written before configs had a version; parseEnergyConfig tells the objectives apart', () => {
    expect(parseContrastiveEnergyConfig(STORED)).toMatchObject({ version: 1, net, sampleSteps: 3, langevin: STORED.langevin });
    expect('objective' in parseEnergyConfig(STORED)).toBe(false);
    const dsm = resolveScoreEnergyConfig({ net: 'small' });
    expect(dsm.version).toBe(1);
    expect(parseEnergyConfig(JSON.parse(JSON.stringify(dsm)))).toEqual(dsm);
    // Score-matching configs written before versioning (the bundled ebm-cifar10's) read as version 1.
    const { version: _v, ...unversioned } = JSON.parse(JSON.stringify(dsm));
    expect(parseEnergyConfig(unversioned)).toEqual(dsm);
    expect(fieldOf(() => parseEnergyConfig({ ...unversioned, version: 2 }))).toBe('version');
    expect(fieldOf(() => parseEnergyConfig({ ...STORED, objective: 'nce' }))).toBe('objective');
  });

  it('an invalid or unknown-version config fails naming the field', () => {
    const { net: _n, ...noNet } = STORED;
    expect(fieldOf(() => parseContrastiveEnergyConfig(noNet))).toBe('net');
    expect(fieldOf(() => parseContrastiveEnergyConfig({ ...STORED, version: 3 }))).toBe('version');
    expect(fieldOf(() => parseContrastiveEnergyConfig({ ...STORED, langevin: { stepSize: -1 } }))).toBe('langevin.stepSize');
    expect(fieldOf(() => parseContrastiveEnergyConfig({ ...STORED, sampleSteps: 1.5 }))).toBe('sampleSteps');
    expect(fieldOf(() => parseContrastiveEnergyConfig({ ...STORED, net: { ...net, mode: 'conditional' } }))).toBe('net.mode');
    expect(fieldOf(() => parseContrastiveEnergyConfig({ ...STORED, net: { ...net, architecture: 'vit' } }))).toBe('net');
  });

  it('the API provider refuses an invalid manifest config, naming the field', async () => {
    await expect(createEnergyProvider({ id: 'b', dir: join(root, 'bad') }).load()).rejects.toThrow(
      /Invalid energy config in the manifest: energy config: langevin.stepSize must be a finite number ≥ 0/,
    );
  });
});

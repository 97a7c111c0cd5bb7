import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCheckpoint } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../../testing/backend.js';
import { energyFunction } from '../energy-function.js';
import { resolveEnergyNetConfig } from '../energy-net/config.js';
import { createEnergyNet } from '../energy-net/create.js';
import { noiseLevelsOf, resolveScoreEnergyConfig } from '../score/config.js';
import { createScoreEnergyNet } from '../score/model.js';
import { noiseConditionalEnergy } from '../score/noise-conditional.js';
import { percentileOf } from './checkpoint.js';
import { createEnergyProvider } from './energy-provider.js';

const SIZE = 16;
let root = '';
const manifest = (kind: 'energy' | 'classifier', config: Record<string, unknown> = {}) => ({
  format: 1 as const,
  kind,
  config,
  step: 0,
  created: new Date().toISOString(),
});

beforeAll(async () => {
  await useTestBackend();
  root = await mkdtemp(join(tmpdir(), 'genlab-energy-plugin-'));
  const net = resolveEnergyNetConfig({ ...resolveEnergyNetConfig('small'), inputShape: [SIZE, SIZE, 3] });
  const energy = createEnergyNet(net);
  await saveCheckpoint(join(root, 'ebm'), {
    manifest: manifest('energy', { net, langevin: { stepSize: 10, noiseStd: 0.005, gradClip: 0.03 } }),
    models: { model: energy },
    tensors: { trainingEnergies: tf.tensor1d([3, -1, 2, 0]) },
  });
  // A score-matching energy model (objective dsm): a net conditional on 3 noise levels.
  const dsm = resolveScoreEnergyConfig({
    net: { preset: 'small', inputShape: [SIZE, SIZE, 3], channels: [4, 8], hiddenUnits: [8] },
    noise: { levels: 3 },
  });
  const scoreNet = createScoreEnergyNet(dsm);
  await saveCheckpoint(join(root, 'dsm'), { manifest: manifest('energy', { ...dsm }), models: { model: scoreNet } });
  scoreNet.dispose();
  // A score-matching energy whose body is a UNet (unetEnergy).
  const unet = resolveScoreEnergyConfig({
    net: {
      architecture: 'unet',
      unet: { imageSize: SIZE, inChannels: 3, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, groups: 4, seed: 3 },
    },
    noise: { max: 20, min: 0.05, levels: 4 },
    sampling: { sampler: 'ancestral' },
  });
  const unetNet = createScoreEnergyNet(unet);
  await saveCheckpoint(join(root, 'unet'), { manifest: manifest('energy', { ...unet }), models: { model: unetNet } });
  unetNet.dispose();
  // Another kind of checkpoint, for the kind check.
  await saveCheckpoint(join(root, 'cls'), { manifest: manifest('classifier'), models: { model: energy } });
  energy.dispose();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('percentileOf', () => {
  it('counts the share strictly below the value', () => {
    const sorted = Float64Array.from([-1, 0, 2, 3]);
    expect([percentileOf(sorted, -5), percentileOf(sorted, 0), percentileOf(sorted, 0.5), percentileOf(sorted, 9)]).toEqual([
      0, 25, 50, 100,
    ]);
  });
});

describe('energy provider', () => {
  it('scores with the model’s own energy and the percentile among stored training energies', async () => {
    const provider = createEnergyProvider({ id: 'e', dir: join(root, 'ebm') });
    const info = await provider.load();
    expect(info).toMatchObject({ capabilities: ['unconditional', 'score'], samplers: ['langevin'], imageShape: [SIZE, SIZE, 3] });
    const x = tf.randomUniform([2, SIZE, SIZE, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const scores = (await provider.score?.(x, {})) ?? [];
    // Reference: a fresh energy function over the same weights, saved and reloaded independently.
    const { loadCheckpoint } = await import('@lab/core');
    const { models } = await loadCheckpoint(join(root, 'ebm'));
    const reference = energyFunction(models.model as LayersModel)(x);
    const expected = Array.from(await reference.data());
    for (const [i, s] of scores.entries()) {
      expect(s.energy).toBeCloseTo(expected[i] as number, 4);
      expect(s.percentile).toBe(percentileOf(Float64Array.from([-1, 0, 2, 3]), s.energy));
    }
    tf.dispose([x, reference]);
    models.model?.dispose();
    provider.dispose();
  });

  it('samples with Langevin dynamics inside [-1, 1], deterministically per seed, without leaking tensors', async () => {
    const provider = createEnergyProvider({ id: 'e', dir: join(root, 'ebm') });
    await provider.load();
    const params = { count: 2, seed: 11, sampler: 'langevin' as const, steps: 3 };
    const first = (await provider.sample?.(params, {})) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    const second = (await provider.sample?.(params, { onProgress: (p) => steps.push(p.step) })) as tf.Tensor4D;
    expect(steps).toEqual([1, 2, 3]);
    const [a, b] = [await first.data(), await second.data()];
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    tf.dispose([first, second]);
    expect(tf.memory().numTensors).toBe(before - 1);
    provider.dispose();
  });

  it('serves a score-matching model: annealed Langevin over its levels, energies at the smallest noise level', async () => {
    const provider = createEnergyProvider({ id: 'd', dir: join(root, 'dsm') });
    const info = await provider.load();
    expect(info).toMatchObject({
      capabilities: ['unconditional', 'score'],
      samplers: ['langevin', 'ancestral'],
      defaultSampler: 'langevin',
      defaultSteps: 30,
    });
    const steps: number[] = [];
    const before = tf.memory().numTensors;
    const samples = (await provider.sample?.(
      { count: 2, seed: 4, sampler: 'langevin', steps: 6 },
      { onProgress: (p) => steps.push(p.step) },
    )) as tf.Tensor4D;
    // 6 steps over 3 levels, then the Tweedie step.
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(samples.shape).toEqual([2, SIZE, SIZE, 3]);
    const values = await samples.data();
    expect(Math.max(...values)).toBeLessThanOrEqual(1);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    samples.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The ancestral sampler by name: one step from each level to the next (the config has no
    // corrector steps), then the Tweedie step.
    steps.length = 0;
    const ancestral = (await provider.sample?.(
      { count: 2, seed: 4, sampler: 'ancestral', steps: 2 },
      { onProgress: (p) => steps.push(p.step) },
    )) as tf.Tensor4D;
    expect(steps).toEqual([1, 2, 3]);
    ancestral.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const x = tf.randomUniform([2, SIZE, SIZE, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const scores = (await provider.score?.(x, {})) ?? [];
    const { loadCheckpoint } = await import('@lab/core');
    const { models, manifest: stored } = await loadCheckpoint(join(root, 'dsm'));
    const config = resolveScoreEnergyConfig(stored.config);
    const sigmas = noiseLevelsOf(config);
    const reference = noiseConditionalEnergy(models.model as LayersModel, sigmas, { dataStd: config.dataStd })(x, sigmas.length - 1);
    const expected = Array.from(await reference.data());
    for (const [i, s] of scores.entries()) expect(s.energy).toBeCloseTo(expected[i] as number, 3);
    tf.dispose([x, reference]);
    models.model?.dispose();
    provider.dispose();
  });

  it('serves a UNet energy: ancestral by default over its levels, energies ⟨x, u⟩/2σ at the smallest level', async () => {
    const provider = createEnergyProvider({ id: 'u', dir: join(root, 'unet') });
    const info = await provider.load();
    expect(info).toMatchObject({
      samplers: ['langevin', 'ancestral'],
      defaultSampler: 'ancestral',
      defaultSteps: 3,
      imageShape: [SIZE, SIZE, 3],
    });
    const before = tf.memory().numTensors;
    const samples = (await provider.sample?.({ count: 2, seed: 4, sampler: 'ancestral', steps: 3 }, {})) as tf.Tensor4D;
    expect(samples.shape).toEqual([2, SIZE, SIZE, 3]);
    samples.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const x = tf.randomUniform([2, SIZE, SIZE, 3], -1, 1, 'float32', 6) as tf.Tensor4D;
    const scores = (await provider.score?.(x, {})) ?? [];
    // Reference: the UNet run by hand on the reloaded weights, at σ = 0.05 (the schedule's timestep for it).
    const { loadCheckpoint } = await import('@lab/core');
    const { createSchedule, timestepAtSigma } = await import('@lab/samplers');
    const { models } = await loadCheckpoint(join(root, 'unet'));
    const t = timestepAtSigma(createSchedule({ kind: 'linear', timesteps: 1000 }), 0.05);
    const reference = tf.tidy(() => {
      const u = (models.model as LayersModel).predict([tf.mul(x, 1 / Math.sqrt(1 + 0.05 ** 2)), tf.fill([2], t)]) as tf.Tensor;
      return tf.div(tf.sum(tf.reshape(tf.mul(x, u), [2, -1]), 1), 2 * 0.05);
    });
    const expected = Array.from(await reference.data());
    for (const [i, s] of scores.entries()) expect(s.energy).toBeCloseTo(expected[i] as number, 2);
    tf.dispose([x, reference]);
    models.model?.dispose();
    provider.dispose();
  });

  it('refuses a checkpoint of another kind', async () => {
    await expect(createEnergyProvider({ id: 'x', dir: join(root, 'cls') }).load()).rejects.toThrow(
      /Expected a checkpoint of kind "energy", found kind "classifier"/,
    );
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, saveCheckpoint } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../../testing/backend.js';
import { resolveUNetConfig } from '../config.js';
import { createUNet } from '../unet.js';
import { createDiffusionProvider } from './provider.js';

const SIZE = 8;
let root = '';

beforeAll(async () => {
  await useTestBackend();
  root = await mkdtemp(join(tmpdir(), 'genlab-unet-plugin-'));
  const unet = resolveUNetConfig({
    preset: 'tiny',
    imageSize: SIZE,
    baseChannels: 8,
    channelMults: [1, 2],
    attentionResolutions: [],
    midAttention: false,
    groups: 4,
  });
  const model = createUNet(unet);
  const manifest = {
    format: 1 as const,
    config: { unet, schedule: { kind: 'linear', timesteps: 20 }, sampleSteps: 3 },
    step: 0,
    created: new Date().toISOString(),
  };
  await saveCheckpoint(join(root, 'ok'), { manifest: { ...manifest, kind: 'diffusion' }, models: { model } });
  await saveCheckpoint(join(root, 'solver'), {
    manifest: { ...manifest, config: { ...manifest.config, sampler: 'dpm-solver++' }, kind: 'diffusion' },
    models: { model },
  });
  await saveCheckpoint(join(root, 'energy'), { manifest: { ...manifest, kind: 'energy' }, models: { model } });
  const { schedule: _dropped, ...noSchedule } = manifest.config;
  await saveCheckpoint(join(root, 'no-schedule'), { manifest: { ...manifest, config: noSchedule, kind: 'diffusion' }, models: { model } });
  await saveCheckpoint(join(root, 'wrong-size'), {
    manifest: { ...manifest, config: { ...manifest.config, unet: { ...unet, imageSize: 16 } }, kind: 'diffusion' },
    models: { model },
  });
  model.dispose();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('diffusion provider', () => {
  it('reads the manifest: samplers, steps bounded by T, image shape, unconditional', async () => {
    const provider = createDiffusionProvider({ id: 'd', dir: join(root, 'ok') });
    const info = await provider.load();
    expect(info).toMatchObject({
      capabilities: ['unconditional', 'inpaint'],
      samplers: ['ddim', 'ddpm', 'dpm-solver++'],
      defaultSampler: 'ddim',
      defaultSteps: 3,
      maxSteps: 20,
      imageShape: [SIZE, SIZE, 3],
    });
    expect(info).not.toHaveProperty('defaultGuidance');
    provider.dispose();
  });

  it('offers the manifest’s sampler as the default when its config names one', async () => {
    const provider = createDiffusionProvider({ id: 'd', dir: join(root, 'solver') });
    expect(await provider.load()).toMatchObject({ defaultSampler: 'dpm-solver++', defaultSteps: 3 });
    provider.dispose();
  });

  it('samples with DPM-Solver++(2M): deterministic per seed, no tensor left behind', async () => {
    const provider = createDiffusionProvider({ id: 'd', dir: join(root, 'ok') });
    await provider.load();
    const params = { count: 2, seed: 5, sampler: 'dpm-solver++' as const, steps: 3 };
    const first = (await provider.sample?.(params, {})) as tf.Tensor;
    const before = tf.memory().numTensors;
    const again = (await provider.sample?.(params, {})) as tf.Tensor;
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(await again.data())).toEqual(Array.from(await first.data()));
    expect(first.shape).toEqual([2, SIZE, SIZE, 3]);
    tf.dispose([first, again]);
    provider.dispose();
  });

  it('is deterministic per seed, keeps unmasked pixels when inpainting, and leaks no tensors', async () => {
    const provider = createDiffusionProvider({ id: 'd', dir: join(root, 'ok') });
    await provider.load();
    const params = { count: 2, seed: 4, sampler: 'ddim' as const, steps: 2 };
    const first = await provider.sample?.(params, {});
    const before = tf.memory().numTensors;
    const again = await provider.sample?.(params, {});
    const a = await (first as tf.Tensor).data();
    const b = await (again as tf.Tensor).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    tf.dispose([first as tf.Tensor, again as tf.Tensor]);
    expect(tf.memory().numTensors).toBe(before - 1);

    const image = tf.fill([1, SIZE, SIZE, 3], 0.25) as tf.Tensor4D;
    // API mask convention: 1 = generate. Generate the left half, keep the right half.
    const mask = tf.tidy(() => tf.concat([tf.ones([1, SIZE, SIZE / 2, 1]), tf.zeros([1, SIZE, SIZE / 2, 1])], 2)) as tf.Tensor4D;
    const out = (await provider.inpaint?.({ ...params, count: 1, image, mask }, {})) as tf.Tensor4D;
    const right = tf.slice(out, [0, 0, SIZE / 2, 0], [1, SIZE, SIZE / 2, 3]);
    const left = tf.slice(out, [0, 0, 0, 0], [1, SIZE, SIZE / 2, 3]);
    expect(Array.from(await right.data()).every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
    expect(Array.from(await left.data()).some((v) => Math.abs(v - 0.25) > 1e-3)).toBe(true);
    tf.dispose([image, mask, out, right, left]);
    provider.dispose();
  });

  it('stops at the next step when aborted, reporting progress until then', async () => {
    const provider = createDiffusionProvider({ id: 'd', dir: join(root, 'ok') });
    await provider.load();
    const controller = new AbortController();
    const steps: number[] = [];
    const before = tf.memory().numTensors;
    const run = provider.sample?.(
      { count: 1, seed: 1, sampler: 'ddpm', steps: 10 },
      {
        signal: controller.signal,
        onProgress: (p) => {
          steps.push(p.step);
          if (p.step === 2) controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
    expect(steps).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before);
    provider.dispose();
  });

  it('refuses a checkpoint of another kind and a missing folder, naming them', async () => {
    await expect(createDiffusionProvider({ id: 'e', dir: join(root, 'energy') }).load()).rejects.toThrow(
      /Expected a checkpoint of kind "diffusion", found kind "energy"/,
    );
    await expect(createDiffusionProvider({ id: 'm', dir: join(root, 'missing') }).load()).rejects.toBeInstanceOf(CheckpointError);
  });

  it('refuses a manifest without a schedule (no fall-back) or whose UNet is not the stored model, naming the field', async () => {
    const before = tf.memory().numTensors;
    await expect(createDiffusionProvider({ id: 's', dir: join(root, 'no-schedule') }).load()).rejects.toThrow(
      /Invalid diffusion config in the manifest: diffusion config: schedule must be an object/,
    );
    await expect(createDiffusionProvider({ id: 'w', dir: join(root, 'wrong-size') }).load()).rejects.toThrow(
      /The model takes \[8, 8, 3\] images, but config.unet says 16×16×3/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});

import { readFileSync } from 'node:fs';
import { ValidationError } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { DIFFUSION_CONFIG_VERSION, parseDiffusionConfig, resolveDiffusionConfig } from '../src/index.js';

/** The `config` of the bundled ddpm-cifar10 manifest, as the trainer wrote it before configs had a version. */
const V1 = JSON.parse(readFileSync(new URL('./fixtures/diffusion-config-v1.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const fieldOf = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details?.field;
  }
  throw new Error('did not throw');
};

describe('diffusion model config', () => {
  it('reads a manifest config written before configs had a version, unchanged but for the version', () => {
    const config = parseDiffusionConfig(V1);
    expect(config).toEqual({ ...V1, version: 1 });
    expect(config.unet.numClasses).toBe(10);
    expect(config.classNames?.[3]).toBe('cat');
  });

  it('resolve fills defaults (tiny UNet, linear 1000-step schedule, dropout 0.1, 50 steps); parse reads it back unchanged', () => {
    const config = resolveDiffusionConfig();
    expect(config).toMatchObject({
      version: DIFFUSION_CONFIG_VERSION,
      schedule: { kind: 'linear', timesteps: 1000 },
      labelDropout: 0.1,
      sampleSteps: 50,
    });
    expect(config.unet.baseChannels).toBe(24);
    expect(parseDiffusionConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    const conditional = resolveDiffusionConfig({ unet: { preset: 'tiny', numClasses: 2 }, classes: [3, 5] });
    expect(conditional).toMatchObject({ classes: [3, 5], classNames: ['cat', 'dog'] });
    expect(resolveDiffusionConfig({ unet: { preset: 'tiny', numClasses: 10 } }).classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('names a default sampler only when it has one (absent: DDIM), and reads it back', () => {
    expect(resolveDiffusionConfig()).not.toHaveProperty('sampler');
    const config = resolveDiffusionConfig({ sampler: 'dpm-solver++', sampleSteps: 10 });
    expect(config).toMatchObject({ sampler: 'dpm-solver++', sampleSteps: 10 });
    expect(parseDiffusionConfig({ ...V1, sampler: 'dpm-solver++' }).sampler).toBe('dpm-solver++');
    expect(parseDiffusionConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it('a stored config must name its UNet and schedule: no fall-back to a linear 1000-step schedule', () => {
    const { schedule: _s, ...noSchedule } = V1;
    expect(() => parseDiffusionConfig(noSchedule)).toThrow(/diffusion config: schedule must be an object/);
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, schedule: { kind: 'linear' } }))).toBe('schedule.timesteps');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, schedule: { kind: 'quadratic', timesteps: 10 } }))).toBe('schedule.kind');
    const { unet: _u, ...noUnet } = V1;
    expect(fieldOf(() => parseDiffusionConfig(noUnet))).toBe('unet');
    expect(() => parseDiffusionConfig({})).toThrow(ValidationError);
    expect(() => parseDiffusionConfig(null)).toThrow(ValidationError);
  });

  it('an invalid or unknown-version config fails naming the field', () => {
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, version: 2 }))).toBe('version');
    expect(() => parseDiffusionConfig({ ...V1, version: 2 })).toThrow(/version 2 is not supported/);
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, unet: { ...(V1.unet as object), groups: 7 } }))).toBe('unet.groups');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, labelDropout: 2 }))).toBe('labelDropout');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, sampleSteps: 0 }))).toBe('sampleSteps');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, sampler: 'euler' }))).toBe('sampler');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, classes: [0, 1] }))).toBe('classes');
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, classNames: ['a'] }))).toBe('classNames');
    const { numClasses: _n, ...unconditional } = V1.unet as Record<string, unknown>;
    expect(fieldOf(() => parseDiffusionConfig({ ...V1, unet: unconditional }))).toBe('classes');
  });
});

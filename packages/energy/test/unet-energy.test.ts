import { Rng, ValidationError } from '@lab/core';
import { createSchedule } from '@lab/samplers';
import { createUNet, resolveUNetConfig, type UNetConfigInput } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createScoreEnergyNet,
  denoisingScoreMatchingLoss,
  noiseLevelsOf,
  parseScoreEnergyConfig,
  resolveScoreEnergyConfig,
  scoreEnergyOf,
  unetEnergy,
  unetEnergyNetFromDiffusion,
} from '../src/index.js';
import { useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

/** An 8×8 UNet with two levels and attention: every kind of layer, fast on cpu. */
const MICRO: UNetConfigInput = {
  imageSize: 8,
  inChannels: 3,
  baseChannels: 8,
  channelMults: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [4],
  numHeads: 1,
  groups: 4,
  seed: 5,
};
const schedule = createSchedule({ kind: 'linear', timesteps: 1000 });
/** σ at integer timesteps, so the UNet's t is known without timestepAtSigma. */
const TIMESTEPS = [700, 120, 4];
const SIGMAS = TIMESTEPS.map((t) => schedule.sqrtRecipm1AlphasCumprod[t] as number);

/** A score-matching energy on MICRO with 3 levels, σ 5 → 0.05. */
const MICRO_ENERGY = resolveScoreEnergyConfig({ net: { architecture: 'unet', unet: MICRO }, noise: { max: 5, min: 0.05, levels: 3 } });
function microEnergy() {
  const model = createScoreEnergyNet(MICRO_ENERGY);
  return { model, energy: scoreEnergyOf(model, MICRO_ENERGY) };
}

const read = async (t: tf.Tensor) => {
  const values = Array.from(await t.data());
  t.dispose();
  return values;
};
const maxRelative = (a: number[], b: number[]) =>
  Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number))));

describe('unetEnergy', () => {
  it('from a class-conditional diffusion UNet: ⟨x, ε̂(x/√(1 + σ²), t, null class)⟩ / 2σ of the original', async () => {
    const diffusion = createUNet({ ...MICRO, numClasses: 3 });
    const { net, model } = unetEnergyNetFromDiffusion(diffusion, {
      unet: resolveUNetConfig({ ...MICRO, numClasses: 3 }),
      schedule: { kind: 'linear', timesteps: 1000 },
    });
    expect(net.unet.numClasses).toBeUndefined();
    const energy = unetEnergy(model, SIGMAS, net);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
    for (const [level, sigma] of SIGMAS.entries()) {
      const expected = tf.tidy(() => {
        const scaled = tf.mul(x, 1 / Math.sqrt(1 + sigma ** 2));
        const eps = diffusion.predict([scaled, tf.fill([2], TIMESTEPS[level] as number), tf.tensor1d([3, 3], 'int32')]) as tf.Tensor;
        return tf.div(tf.sum(tf.reshape(tf.mul(x, eps), [2, -1]), 1), 2 * sigma);
      });
      expect(maxRelative(await read(energy(x, level)), await read(expected))).toBeLessThan(1e-4);
    }
    tf.dispose([x]);
    diffusion.dispose();
    model.dispose();
  });

  it('levels as a tensor give each sample its own level', async () => {
    const { model, energy } = microEnergy();
    const x = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', 2);
    const mixed = await read(energy(x, tf.tensor1d([2, 0, 1], 'int32')));
    const each = await Promise.all([2, 0, 1].map(async (level, i) => (await read(energy(x, level)))[i] as number));
    expect(maxRelative(mixed, each)).toBeLessThan(1e-5);
    expect(() => energy(x, 3)).toThrow(ValidationError);
    x.dispose();
    model.dispose();
  });

  it('score matching through it: ∂loss/∂w matches central differences at batch 2, and nothing leaks', async () => {
    const { model, energy } = microEnergy();
    const sigmas = noiseLevelsOf(MICRO_ENERGY);
    const clean = tf.randomNormal([2, 8, 8, 3], 0, 0.5, 'float32', 3);
    const noise = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 4);
    const levels = tf.tensor1d([0, 2], 'int32');
    const lossValue = () =>
      tf.tidy(() => {
        const { loss, scoreNorm } = denoisingScoreMatchingLoss(energy, clean, levels, sigmas, noise);
        scoreNorm.dispose();
        return loss;
      });
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(lossValue, weights);
    const rng = new Rng(6);
    const directions = weights.map((w) => rng.normal(w.shape));
    const predicted = (
      await read(tf.addN(weights.map((w, i) => tf.sum(tf.mul(grads[w.name] as tf.Tensor, directions[i] as tf.Tensor)))))
    )[0] as number;
    const originals = weights.map((w) => w.clone());
    // The loss curves sharply along a random direction of every weight: at ε = 1e-2 central
    // differences are 20 % off, at 3e-4 they agree to 1e-5.
    const eps = 3e-4;
    const lossAt = async (sign: number) => {
      tf.tidy(() => {
        for (const [i, w] of weights.entries()) w.assign(tf.add(originals[i] as tf.Tensor, tf.mul(directions[i] as tf.Tensor, sign * eps)));
      });
      return (await read(lossValue()))[0] as number;
    };
    const central = ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps);
    for (const [i, w] of weights.entries()) w.assign(originals[i] as tf.Tensor);
    expect(Math.abs(central - predicted) / Math.abs(predicted)).toBeLessThan(1e-3);

    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      const step = tf.variableGrads(lossValue, weights);
      tf.dispose([step.value, ...Object.values(step.grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([clean, noise, levels, ...directions, ...originals, ...Object.values(grads)]);
    model.dispose();
  });
});

describe('UNet energy config', () => {
  it('unet-tiny names the tiny UNet body, with its own defaults; a stored config reads back the same', () => {
    const config = resolveScoreEnergyConfig({ net: 'unet-tiny' });
    expect(config.net.architecture).toBe('unet');
    expect(config.net.inputShape).toEqual([32, 32, 3]);
    // The bundled energy's recipe; an energy-net body keeps σ 1 → 0.01 over 10 levels and Langevin.
    expect(config.noise).toEqual({ max: 80, min: 0.01, levels: 100 });
    expect(config.sampling.sampler).toBe('ancestral');
    expect(resolveScoreEnergyConfig({ net: 'small' })).toMatchObject({ noise: { max: 1, levels: 10 }, sampling: { sampler: 'langevin' } });
    expect(resolveScoreEnergyConfig({ net: 'unet-tiny', noise: { max: 20 }, sampling: { sampler: 'langevin' } })).toMatchObject({
      noise: { max: 20, min: 0.01, levels: 100 },
      sampling: { sampler: 'langevin' },
    });
    expect(parseScoreEnergyConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it('refuses a class-conditional UNet and names the field', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as ValidationError).details?.field;
      }
      return undefined;
    };
    expect(field(() => resolveScoreEnergyConfig({ net: { architecture: 'unet', unet: { ...MICRO, numClasses: 3 } } }))).toBe(
      'net.unet.numClasses',
    );
    expect(() => resolveScoreEnergyConfig({ net: { architecture: 'unet', unet: { ...MICRO, outChannels: 6 } } })).toThrow(/outChannels/);
  });
});

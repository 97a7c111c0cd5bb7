import { Rng, ValidationError } from '@lab/core';
import { annealedLangevin } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createEnergyNet,
  createScoreEnergyNet,
  defaultSamplingSteps,
  denoisingScoreMatchingLoss,
  modelEnergies,
  noiseConditionalEnergy,
  noiseLevelsOf,
  resolveScoreEnergyConfig,
  sampleScoreEnergy,
  scoreEnergyOf,
} from '../src/index.js';
import { useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

const relativeL2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    scale += (b[i] as number) ** 2;
  }
  return Math.sqrt(diff / scale);
};

describe('denoisingScoreMatchingLoss on Gaussian data (closed form)', () => {
  // Data x ~ N(0, τ²) per element and E(x, σ) = a‖x‖²/2: σ∇ₓE(x̃) = σa·x̃, x̃ = x + σε, so
  // E[(σa·x̃ − ε)²] = σ²a²(τ² + σ²) − 2σ²a + 1, minimised at a = 1/(τ² + σ²) — the energy of the
  // blurred data — where it equals τ²/(τ² + σ²).
  const tau = 0.5;
  const sigmas = [0.8, 0.2];
  const n = 4000;
  const d = 8;
  const expectedLoss = (a: number, sigma: number) => sigma ** 2 * a ** 2 * (tau ** 2 + sigma ** 2) - 2 * sigma ** 2 * a + 1;
  const expectedSlope = (a: number, sigma: number) => 2 * sigma ** 2 * a * (tau ** 2 + sigma ** 2) - 2 * sigma ** 2;

  it('has the closed-form value and slope in the energy scale, zero at the blurred data energy', async () => {
    const rng = new Rng(9);
    const clean = rng.normal([n, d], 0, tau);
    const noise = rng.normal([n, d]);
    for (const [level, sigma] of sigmas.entries()) {
      const levels = tf.fill([n], level, 'int32') as tf.Tensor1D;
      for (const a of [0.5, 1 / (tau ** 2 + sigma ** 2), 3]) {
        const scale = tf.scalar(a);
        const lossAt = (s: tf.Tensor) =>
          denoisingScoreMatchingLoss((x) => tf.mul(tf.sum(tf.square(x), 1), tf.mul(s, 0.5)) as tf.Tensor1D, clean, levels, sigmas, noise)
            .loss;
        const { value, grad } = tf.valueAndGrad(lossAt)(scale);
        const loss = (await value.data())[0] as number;
        const slope = (await grad.data())[0] as number;
        expect(Math.abs(loss - expectedLoss(a, sigma)), `σ ${sigma}, a ${a}: loss ${loss}`).toBeLessThan(
          0.02 * expectedLoss(a, sigma) + 0.005,
        );
        expect(Math.abs(slope - expectedSlope(a, sigma)), `σ ${sigma}, a ${a}: slope ${slope}`).toBeLessThan(0.03 * sigma ** 2 + 0.005);
        tf.dispose([scale, value, grad]);
      }
      levels.dispose();
    }
    tf.dispose([clean, noise]);
  });
});

describe('denoisingScoreMatchingLoss on a noise-conditional energy net', () => {
  const sigmas = [1, 0.3, 0.05];
  const net = () =>
    createEnergyNet({ architecture: 'mlp', inputShape: [4], hiddenUnits: [8], mode: 'conditional', numClasses: 3, seed: 4 });

  it('is the Gaussian base energy plus the net energy divided by σ of each sample’s level', async () => {
    const model = net();
    const energy = noiseConditionalEnergy(model, sigmas, { dataStd: 0 });
    const x = tf.tensor2d([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.0, 0.2, 0.9, -0.1, 0.3, 0.3], [3, 4]);
    const levels = tf.tensor1d([0, 1, 2], 'int32');
    const raw = await modelEnergies(model, x, { mode: 'conditional', classLabel: levels }).energies.data();
    const scaled = await energy(x, levels).data();
    for (let i = 0; i < 3; i++) expect(scaled[i]).toBeCloseTo((raw[i] as number) / (sigmas[i] as number), 5);
    const atOne = await energy(x, 1).data();
    const rawOne = await modelEnergies(model, x, { mode: 'conditional', classLabel: 1 }).energies.data();
    for (let i = 0; i < 3; i++) expect(atOne[i]).toBeCloseTo((rawOne[i] as number) / 0.3, 5);
    expect(() => energy(x, 3)).toThrow(ValidationError);
    const withBase = await noiseConditionalEnergy(model, sigmas, { dataStd: 0.5 })(x, levels).data();
    const rows = await x.array();
    for (let i = 0; i < 3; i++) {
      const norm = (rows[i] as number[]).reduce((s, v) => s + v * v, 0);
      expect(withBase[i]).toBeCloseTo(norm / (2 * (0.25 + (sigmas[i] as number) ** 2)) + (raw[i] as number) / (sigmas[i] as number), 5);
    }
    expect(() => noiseConditionalEnergy(model, [1, 0.5])).toThrow(/3 levels/);
    expect(() => noiseConditionalEnergy(createEnergyNet({ architecture: 'mlp', inputShape: [4], hiddenUnits: [8] }), sigmas)).toThrow(
      /conditional energy net/,
    );
    model.dispose();
    tf.dispose([x, levels]);
  });

  it('has weight gradients (a gradient of a gradient) that match central differences at batch 3, leaking nothing', async () => {
    const model = net();
    const energy = noiseConditionalEnergy(model, sigmas);
    const rng = new Rng(2);
    const clean = rng.uniform([3, 4], -1, 1);
    const noise = rng.normal([3, 4]);
    const levels = tf.tensor1d([0, 2, 1], 'int32');
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const lossValue = () => denoisingScoreMatchingLoss(energy, clean, levels, sigmas, noise).loss;
    const autograd = () => {
      const { value, grads } = tf.variableGrads(lossValue, variables);
      const flat = variables.flatMap((v) => Array.from(grads[v.name]?.dataSync() ?? []));
      tf.dispose([value, ...Object.values(grads)]);
      return flat;
    };
    const analytic = autograd();
    const numeric: number[] = [];
    const h = 1e-2;
    for (const variable of variables) {
      const values = variable.dataSync().slice();
      for (let i = 0; i < values.length; i++) {
        const at = (delta: number) => {
          const shifted = values.slice();
          shifted[i] = (shifted[i] as number) + delta;
          variable.assign(tf.tensor(shifted, variable.shape));
          return tf.tidy(() => lossValue().dataSync()[0] as number);
        };
        numeric.push((at(h) - at(-h)) / (2 * h));
        variable.assign(tf.tensor(values, variable.shape));
      }
    }
    expect(relativeL2(analytic, numeric)).toBeLessThan(5e-3);
    expect(numeric.some((g) => Math.abs(g) > 1e-3)).toBe(true);
    const before = tf.memory().numTensors;
    autograd();
    autograd();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    tf.dispose([clean, noise, levels]);
  });

  it('refuses mismatched shapes', () => {
    const model = net();
    const energy = noiseConditionalEnergy(model, sigmas);
    const x = tf.zeros([2, 4]);
    expect(() => denoisingScoreMatchingLoss(energy, x, tf.tensor1d([0], 'int32'), sigmas, x)).toThrow(/levels must be \[2\]/);
    expect(() => denoisingScoreMatchingLoss(energy, x, tf.tensor1d([0, 1], 'int32'), sigmas, tf.zeros([2, 3]))).toThrow(/must match/);
    model.dispose();
    x.dispose();
  });
});

describe('sampleScoreEnergy: the step size', () => {
  const config = resolveScoreEnergyConfig({
    net: { architecture: 'mlp', inputShape: [4], hiddenUnits: [8], seed: 4 },
    noise: { max: 0.5, min: 0.05, levels: 3 },
    sampling: { stepsPerLevel: 4, stepSize: 1e-3 },
  });
  const draw = async (model: Parameters<typeof sampleScoreEnergy>[0], stepSize?: number) => {
    const x = await sampleScoreEnergy(model, config, { count: 5, rng: new Rng(21), ...(stepSize === undefined ? {} : { stepSize }) });
    const values = Array.from(await x.data());
    x.dispose();
    return values;
  };

  it("defaults to the config's ε; another ε reaches annealedLangevin, the same seed giving other samples", async () => {
    const model = createScoreEnergyNet(config);
    const byConfig = await draw(model);
    expect(await draw(model, 1e-3)).toEqual(byConfig);
    const larger = await draw(model, 4e-3);
    // The same chain by hand: N(0, σ_max²) from the seed, then annealedLangevin with ε = 4e-3.
    const rng = new Rng(21);
    const sigmas = noiseLevelsOf(config);
    const start = rng.normal([5, 4], 0, sigmas[0]);
    const direct = await annealedLangevin(scoreEnergyOf(model, config), start, { sigmas, stepsPerLevel: 4, stepSize: 4e-3, rng });
    expect(larger).toEqual(Array.from(await direct.data()));
    tf.dispose([start, direct]);
    const moved = larger.map((v, i) => Math.abs(v - (byConfig[i] as number)));
    expect(Math.max(...moved)).toBeGreaterThan(1e-2);
    model.dispose();
  });

  it('refuses an ε that is not a finite number > 0 before drawing anything', async () => {
    const model = createScoreEnergyNet(config);
    const before = tf.memory().numTensors;
    for (const stepSize of [0, -1e-4, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(sampleScoreEnergy(model, config, { count: 2, rng: new Rng(1), stepSize })).rejects.toThrow(
        new ValidationError(`stepSize must be a finite number > 0, got ${stepSize}`),
      );
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('sampleScoreEnergy: the ancestral sampler', () => {
  const config = resolveScoreEnergyConfig({
    net: { architecture: 'mlp', inputShape: [4], hiddenUnits: [8], seed: 6 },
    noise: { max: 2, min: 0.05, levels: 7 },
    sampling: { sampler: 'ancestral', correctorSteps: 1, stepSize: 1e-3 },
  });
  const values = async (x: tf.Tensor) => {
    const out = Array.from(await x.data());
    x.dispose();
    return out;
  };

  it("is the config's default; `steps` picks evenly spaced trained levels, first and last kept, each with its own energy", async () => {
    const model = createScoreEnergyNet(config);
    expect(defaultSamplingSteps(config)).toBe(6 + 7);
    expect(defaultSamplingSteps(config, 'langevin')).toBe(7 * 10);
    // 7 evaluations with one corrector step each: 4 levels of the 7, indices 0, 2, 4, 6.
    const picked = [0, 2, 4, 6];
    const sampled = await values(await sampleScoreEnergy(model, config, { count: 3, rng: new Rng(2), steps: 7 }));
    const rng = new Rng(2);
    const all = noiseLevelsOf(config);
    const start = rng.normal([3, 4], 0, all[0]);
    const energy = scoreEnergyOf(model, config);
    const direct = await annealedLangevin((x, visited) => energy(x, picked[visited] as number), start, {
      sigmas: picked.map((i) => all[i] as number),
      predictor: 'ancestral',
      stepsPerLevel: 1,
      stepSize: 1e-3,
      rng,
    });
    start.dispose();
    expect(sampled).toEqual(await values(direct));
    // Asking for Langevin by name gives the annealed-Langevin chain instead.
    const langevin = await values(await sampleScoreEnergy(model, config, { count: 3, rng: new Rng(2), steps: 7, sampler: 'langevin' }));
    expect(langevin).not.toEqual(sampled);
    // A config's own `sampling.steps` is its default sampler's default, not the other sampler's.
    const withSteps = resolveScoreEnergyConfig({ ...config, sampling: { ...config.sampling, steps: 7 } });
    expect(defaultSamplingSteps(withSteps)).toBe(7);
    expect(defaultSamplingSteps(withSteps, 'langevin')).toBe(7 * 10);
    expect(await values(await sampleScoreEnergy(model, withSteps, { count: 3, rng: new Rng(2) }))).toEqual(sampled);
    for (const steps of [0, 1.5]) {
      expect(() => resolveScoreEnergyConfig({ ...config, sampling: { ...config.sampling, steps } })).toThrow(/sampling.steps must be/);
    }
    model.dispose();
  });

  it('refuses a sampler it does not know, and a config with negative corrector steps', async () => {
    const model = createScoreEnergyNet(config);
    await expect(sampleScoreEnergy(model, config, { count: 1, rng: new Rng(1), sampler: 'ddim' as never })).rejects.toThrow(
      /sampler must be langevin or ancestral/,
    );
    expect(() => resolveScoreEnergyConfig({ sampling: { correctorSteps: -1 } })).toThrow(/correctorSteps/);
    expect(() => resolveScoreEnergyConfig({ sampling: { sampler: 'euler' as never } })).toThrow(/sampling.sampler/);
    model.dispose();
  });
});

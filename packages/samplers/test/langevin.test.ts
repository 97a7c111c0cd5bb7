import { CancelledError, Rng, setStepCapture, stepRecorder, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type EnergyFunction, langevin } from '../src/index.js';
import { columnMoments, useCpu } from './helpers.js';

beforeAll(useCpu);

/** E(x) = Σ_d (x_d − μ_d)² / 2σ², per sample of x [B, D]. */
const gaussianEnergy =
  (mu: number[], sigma: number): EnergyFunction =>
  (x) =>
    tf.tidy(() => tf.div(tf.sum(tf.square(tf.sub(x, tf.tensor1d(mu))), 1), 2 * sigma * sigma));

async function values(x: tf.Tensor): Promise<number[]> {
  const v = Array.from(await x.data());
  x.dispose();
  return v;
}

describe('langevin on an analytic Gaussian energy', () => {
  // E = |x − μ|²/2σ² has p ∝ exp(−E) = N(μ, σ² I). With η = 0.02σ² and noise √(2η), the
  // unadjusted chain's stationary variance is σ²/(1 − η/2σ²) = 1.01σ² ('gradient-first') and
  // σ²(1 − η/σ²)²/(1 − η/2σ²) ≈ 0.97σ² ('noise-first'); 400 steps contract the start
  // (x = 0, 2.5σ away) by (1 − 0.02)^400 ≈ 3e-4. Checked by hand: flipping the gradient sign
  // diverges, dropping the noise gives variance 0, noise √η instead of √(2η) gives 0.5σ².
  const mu = [0.3, -0.5];
  const sigma = 0.2;
  const stepSize = 0.02 * sigma * sigma;
  const n = 2000;

  for (const order of ['gradient-first', 'noise-first'] as const) {
    it(`(${order}) reaches mean μ and variance σ²`, async () => {
      const x0 = tf.zeros([n, 2]);
      const { samples } = await langevin(gaussianEnergy(mu, sigma), x0, {
        steps: 400,
        stepSize,
        noiseStd: Math.sqrt(2 * stepSize),
        gradClip: null,
        clampRange: null,
        order,
        rng: new Rng(17),
      });
      const m = columnMoments(await values(samples), 2);
      for (let d = 0; d < 2; d++) {
        expect(Math.abs((m.mean[d] as number) - (mu[d] as number))).toBeLessThan((4 * sigma) / Math.sqrt(n));
        expect(Math.abs((m.variance[d] as number) / sigma ** 2 - 1)).toBeLessThan(4 * Math.sqrt(2 / n) + 0.03);
      }
      x0.dispose();
    });
  }
});

describe('langevin update rule', () => {
  // E = Σ x³/3 has ∇E = x², so the point where the gradient is taken is visible in the result.
  const cubic: EnergyFunction = (x) => tf.tidy(() => tf.div(tf.sum(tf.pow(x, 3), 1), 3));
  const start = [0.1, -0.2, 0.3, 0.05];

  it('gradient-first: x ← clamp(x − η·clip(∇E(x)) + σz)', async () => {
    const x0 = tf.tensor2d(start, [2, 2]);
    const z = await values(new Rng(5).normal([2, 2]));
    const { samples } = await langevin(cubic, x0, {
      steps: 1,
      stepSize: 0.5,
      noiseStd: 0.1,
      gradClip: 0.03,
      clampRange: [-0.25, 0.25],
      rng: new Rng(5),
    });
    const got = await values(samples);
    start.forEach((x, i) => {
      const g = Math.min(Math.max(x * x, -0.03), 0.03);
      const expected = Math.min(Math.max(x - 0.5 * g + 0.1 * (z[i] as number), -0.25), 0.25);
      expect(got[i]).toBeCloseTo(expected, 6);
    });
    x0.dispose();
  });

  it('noise-first (IGEBM / UvA order): x ← clamp(x + σz), then x ← clamp(x − η·clip(∇E(x)))', async () => {
    const x0 = tf.tensor2d(start, [2, 2]);
    const z = await values(new Rng(5).normal([2, 2]));
    const { samples } = await langevin(cubic, x0, {
      steps: 1,
      stepSize: 0.5,
      noiseStd: 0.1,
      gradClip: null,
      clampRange: [-0.25, 0.25],
      order: 'noise-first',
      rng: new Rng(5),
    });
    const got = await values(samples);
    start.forEach((x, i) => {
      const noisy = Math.min(Math.max(x + 0.1 * (z[i] as number), -0.25), 0.25);
      const expected = Math.min(Math.max(noisy - 0.5 * noisy * noisy, -0.25), 0.25);
      expect(got[i]).toBeCloseTo(expected, 6);
    });
    x0.dispose();
  });

  it('defaults to 60 steps of η = 10, σ = 0.005, gradient clamp 0.03 and x in [−1, 1]', async () => {
    // A steep linear energy E = 100·Σx: ∇E = 100, clipped to 0.03, so each step moves −0.3 (+ tiny noise),
    // and the clamp stops the walk at −1.
    const steps: number[] = [];
    const x0 = tf.fill([3, 4], 0.95);
    const { samples } = await langevin((x) => tf.mul(tf.sum(x, 1), 100), x0, {
      rng: new Rng(1),
      onStep: async ({ step, total, x }) => {
        if (step === 1) {
          for (const v of await x.data()) expect(Math.abs(v - 0.65)).toBeLessThan(0.03);
        }
        steps.push(total);
      },
    });
    expect(steps.length).toBe(60);
    expect(steps.every((t) => t === 60)).toBe(true);
    const v = await values(samples);
    expect(v.every((x) => x === -1)).toBe(true);
    x0.dispose();
  });
});

describe('langevin on a backend that records steps (torch: npm test runs this suite there too)', () => {
  it('replays its steps after the first three, with the same samples as with capture off', async (context) => {
    const native = (tf.backend() as unknown as { native?: { replay: (...args: unknown[]) => unknown } }).native;
    if (!stepRecorder() || !native) return context.skip();
    const energy = gaussianEnergy([0.3, -0.5], 0.2);
    const x0 = tf.randomUniform([8, 2], -1, 1, 'float32', 5);
    const run = async (order: 'gradient-first' | 'noise-first') =>
      values((await langevin(energy, x0, { rng: new Rng(9), steps: 12, stepSize: 0.01, noiseStd: 0.05, order })).samples);
    const replay = native.replay;
    let replays = 0;
    native.replay = (...args: unknown[]) => {
      replays++;
      return replay.apply(native, args);
    };
    try {
      for (const order of ['gradient-first', 'noise-first'] as const) {
        replays = 0;
        const captured = await run(order);
        expect(replays, order).toBe(9);
        setStepCapture(false);
        const plain = await run(order).finally(() => setStepCapture(true));
        expect(captured, order).toEqual(plain);
      }
    } finally {
      native.replay = replay;
      x0.dispose();
    }
  });
});

describe('langevin bookkeeping', () => {
  const energy = gaussianEnergy([0, 0], 0.5);

  it('is deterministic for a seed, leaves x0 alone and reports the mean energy at each gradient point', async () => {
    const x0 = tf.tensor2d([0.5, 0.5, -0.5, 0.25], [2, 2]);
    const energies: number[] = [];
    const first: number[] = [];
    const run = (seed: number, record = false) =>
      langevin(energy, x0, {
        steps: 5,
        stepSize: 0.01,
        noiseStd: 0.05,
        rng: new Rng(seed),
        onStep: record ? async ({ meanEnergy }) => void energies.push((await meanEnergy.data())[0] as number) : undefined,
      });
    const a = await values((await run(1, true)).samples);
    expect(await values((await run(1)).samples)).toEqual(a);
    expect(await values((await run(2)).samples)).not.toEqual(a);
    expect(x0.isDisposed).toBe(false);
    // Step 1 takes its gradient at x0: mean of |x|²/(2·0.25) = (0.5 + 0.3125)/0.5/2.
    first.push(energies[0] as number);
    expect(first[0]).toBeCloseTo((0.5 / 0.5 + 0.3125 / 0.5) / 2, 5);
    expect(energies.length).toBe(5);
    x0.dispose();
  });

  it('records a trajectory every k steps, starting with x0', async () => {
    const x0 = tf.fill([2, 2], 0.8);
    const { samples, trajectory } = await langevin(energy, x0, {
      steps: 6,
      stepSize: 0.01,
      noiseStd: 0.01,
      trajectoryEvery: 3,
      rng: new Rng(1),
    });
    expect(trajectory?.length).toBe(3);
    const [t0, , t2] = trajectory as tf.Tensor[];
    expect(await values(t0 as tf.Tensor)).toEqual(await values(x0.clone()));
    expect(await values(t2 as tf.Tensor)).toEqual(await values(samples));
    tf.dispose(trajectory);
    x0.dispose();
  });

  it('keeps the tensor count flat over 100 steps and leaves only the samples', async () => {
    const x0 = tf.zeros([4, 2]);
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const { samples } = await langevin(energy, x0, {
      steps: 100,
      rng: new Rng(1),
      onStep: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    expect(new Set(counts).size).toBe(1);
    samples.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });

  it('cancels with CancelledError and frees its tensors', async () => {
    const x0 = tf.zeros([4, 2]);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const run = langevin(energy, x0, {
      steps: 50,
      trajectoryEvery: 2,
      rng: new Rng(1),
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 7) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(CancelledError);
    expect(tf.memory().numTensors).toBe(before);
    await expect(langevin(energy, x0, { rng: new Rng(1), signal: AbortSignal.abort() })).rejects.toThrow(CancelledError);
    x0.dispose();
  });

  it('rejects bad options and energies of the wrong size with ValidationError', async () => {
    const x0 = tf.zeros([4, 2]);
    const rng = new Rng(1);
    for (const bad of [
      { steps: -1 },
      { stepSize: Number.NaN },
      { noiseStd: -0.1 },
      { gradClip: 0 },
      { clampRange: [1, -1] as [number, number] },
      { trajectoryEvery: 0 },
    ]) {
      await expect(langevin(energy, x0, { rng, ...bad })).rejects.toThrow(ValidationError);
    }
    const before = tf.memory().numTensors;
    await expect(langevin((x) => tf.sum(x), x0, { rng, steps: 2 })).rejects.toThrow(ValidationError);
    expect(tf.memory().numTensors).toBe(before);
    await expect(langevin(energy, tf.zeros([2, 2], 'int32'), { rng })).rejects.toThrow(ValidationError);
    x0.dispose();
  });
});

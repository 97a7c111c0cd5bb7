import { CancelledError, Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSchedule, DDIMSampler, DDPMSampler, type Denoiser, guidedModelOutput, sampleDiffusion } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);
const schedule = createSchedule({ kind: 'cosine', timesteps: 100 });

/** A cheap label-aware stand-in for a network: ε̂ = 0.1·x + 0.05·(y − 2) + 0.001·t (y = 2 when absent). */
function toyDenoiser(calls: Array<{ batch: number; labels?: number[] }> = []): Denoiser {
  return (x, t, y) => {
    calls.push({ batch: x.shape[0] });
    return tf.tidy(() => {
      const yy = y ? tf.reshape(tf.cast(y, 'float32'), [-1, 1, 1, 1]) : tf.scalar(2);
      return tf.add(tf.add(tf.mul(x, 0.1), tf.mul(tf.sub(yy, 2), 0.05)), tf.mul(tf.reshape(t, [-1, 1, 1, 1]), 0.001)) as tf.Tensor4D;
    });
  };
}

async function values(x: tf.Tensor): Promise<number[]> {
  const v = Array.from(await x.data());
  x.dispose();
  return v;
}

describe('sampleDiffusion', () => {
  it('is deterministic for a seed (DDPM and DDIM) and differs between seeds', async () => {
    const run = async (sampler: DDPMSampler | DDIMSampler, seed: number) =>
      values(await sampleDiffusion({ denoiser: toyDenoiser(), sampler, shape: [2, 3, 3, 1], rng: new Rng(seed), steps: 20 }));
    for (const make of [() => new DDPMSampler(schedule), () => new DDIMSampler(schedule), () => new DDIMSampler(schedule, { eta: 0.7 })]) {
      const a = await run(make(), 1);
      expect(await run(make(), 1)).toEqual(a);
      expect(await run(make(), 2)).not.toEqual(a);
      expect(a.every(Number.isFinite)).toBe(true);
    }
  });

  it('with DDIM η = 0 depends on the seed only through x_T', async () => {
    const sampler = new DDIMSampler(schedule);
    sampler.setTimesteps(10);
    const rng = new Rng(3);
    const xT = new Rng(3).normal([2, 2, 2, 1]) as tf.Tensor4D;
    // Manual loop from the same x_T (the pipeline's first draw from Rng(3)).
    let x: tf.Tensor = xT;
    const denoiser = toyDenoiser();
    for (const t of sampler.timesteps) {
      const next = tf.tidy(() => sampler.step(denoiser(x as tf.Tensor4D, tf.fill([2], t) as tf.Tensor1D), t, x).prevSample);
      x.dispose();
      x = next;
    }
    const viaPipeline = await sampleDiffusion({ denoiser, sampler, shape: [2, 2, 2, 1], rng });
    expect(await values(viaPipeline)).toEqual(await values(x));
  });

  it('reports every step with its timestep, the sample and the x̂0 preview', async () => {
    const sampler = new DDPMSampler(schedule);
    const seen: Array<{ step: number; total: number; t: number; shape: number[]; maxAbsX0: number }> = [];
    const x = await sampleDiffusion({
      denoiser: toyDenoiser(),
      sampler,
      shape: [1, 2, 2, 3],
      rng: new Rng(1),
      steps: 5,
      onStep: async ({ step, total, t, x, predictedX0 }) => {
        const preview = await predictedX0.data();
        await x.data();
        seen.push({ step, total, t, shape: predictedX0.shape, maxAbsX0: Math.max(...Array.from(preview, Math.abs)) });
      },
    });
    x.dispose();
    expect(seen.map((s) => s.step)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map((s) => s.t)).toEqual([80, 60, 40, 20, 0]);
    expect(seen.every((s) => s.total === 5 && s.shape.join() === '1,2,2,3' && s.maxAbsX0 <= 1)).toBe(true);
  });

  it('keeps the tensor count flat across 100 steps and leaves only the result', async () => {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const x = await sampleDiffusion({
      denoiser: toyDenoiser(),
      sampler: new DDPMSampler(schedule),
      shape: [2, 4, 4, 1],
      rng: new Rng(1),
      classLabels: [0, 1],
      guidanceScale: 2,
      nullClass: 5,
      inpaint: { image: tf.zeros([1, 4, 4, 1]), mask: tf.zeros([1, 4, 4, 1]) },
      onStep: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    expect(counts.length).toBe(100);
    expect(new Set(counts).size).toBe(1);
    x.dispose();
    // The two inpainting inputs above are the caller's.
    expect(tf.memory().numTensors).toBe(before + 2);
  });
});

describe('classifier-free guidance', () => {
  it('with scale 1 is the conditional prediction, in one pass of batch B', async () => {
    const calls: Array<{ batch: number }> = [];
    const denoiser = toyDenoiser(calls);
    const x = new Rng(1).normal([3, 2, 2, 1]) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 4, 7], 'int32');
    const guided = guidedModelOutput(denoiser, x, 30, labels, 1, 10);
    const cond = denoiser(x, tf.fill([3], 30) as tf.Tensor1D, labels);
    expect(await values(guided)).toEqual(await values(cond));
    expect(calls[0]?.batch).toBe(3);
  });

  it('with scale s is ε_u + s(ε_c − ε_u), from one doubled-batch call', async () => {
    const calls: Array<{ batch: number }> = [];
    const denoiser = toyDenoiser(calls);
    const x = new Rng(2).normal([3, 2, 2, 1]) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 4, 7], 'int32');
    const guided = guidedModelOutput(denoiser, x, 30, labels, 3.5, 10);
    expect(calls.map((c) => c.batch)).toEqual([6]);
    const t = tf.fill([3], 30) as tf.Tensor1D;
    const cond = denoiser(x, t, labels);
    const uncond = denoiser(x, t, tf.fill([3], 10, 'int32') as tf.Tensor1D);
    const expected = tf.add(uncond, tf.mul(tf.sub(cond, uncond), 3.5));
    const g = await values(guided);
    const e = await values(expected);
    g.forEach((v, i) => {
      expect(v).toBeCloseTo(e[i] as number, 5);
    });
  });

  it('changes the samples when s ≠ 1 and validates its inputs', async () => {
    const base = { denoiser: toyDenoiser(), shape: [2, 2, 2, 1] as [number, number, number, number], steps: 10 };
    const plain = await values(
      await sampleDiffusion({ ...base, sampler: new DDIMSampler(schedule), rng: new Rng(1), classLabels: [1, 3] }),
    );
    const guided = await values(
      await sampleDiffusion({
        ...base,
        sampler: new DDIMSampler(schedule),
        rng: new Rng(1),
        classLabels: [1, 3],
        guidanceScale: 4,
        nullClass: 9,
      }),
    );
    expect(guided).not.toEqual(plain);
    const labelTensor = tf.tensor1d([1, 3], 'int32');
    const fromTensor = await values(
      await sampleDiffusion({
        ...base,
        sampler: new DDIMSampler(schedule),
        rng: new Rng(1),
        classLabels: labelTensor,
        guidanceScale: 4,
        nullClass: 9,
      }),
    );
    expect(fromTensor).toEqual(guided);
    expect(labelTensor.isDisposed).toBe(false);
    labelTensor.dispose();
    const sampler = new DDIMSampler(schedule);
    const before = tf.memory().numTensors;
    await expect(sampleDiffusion({ ...base, sampler, rng: new Rng(1), guidanceScale: 3 })).rejects.toThrow(ValidationError);
    await expect(sampleDiffusion({ ...base, sampler, rng: new Rng(1), classLabels: [1, 3], guidanceScale: 3 })).rejects.toThrow(
      ValidationError,
    );
    await expect(sampleDiffusion({ ...base, sampler, rng: new Rng(1), classLabels: [1] })).rejects.toThrow(ValidationError);
    await expect(sampleDiffusion({ ...base, sampler, rng: new Rng(1), classLabels: [1, -2] })).rejects.toThrow(ValidationError);
    await expect(sampleDiffusion({ ...base, sampler, rng: new Rng(1), shape: [2, 2, 2] as never })).rejects.toThrow(ValidationError);
    const wrongShape: Denoiser = (x) => tf.zeros([x.shape[0], 1, 1, 1]);
    await expect(sampleDiffusion({ ...base, denoiser: wrongShape, sampler, rng: new Rng(1) })).rejects.toThrow(ValidationError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('inpainting', () => {
  it('returns the known pixels exactly and generates the others', async () => {
    const image = tf.tidy(() => tf.reshape(tf.linspace(-0.9, 0.9, 2 * 4 * 4 * 2), [2, 4, 4, 2]) as tf.Tensor4D);
    // Mask 1 = generate: the right half of every row, both channels; the left half is known.
    const mask = tf.tidy(() => tf.tile(tf.reshape(tf.tensor1d([0, 0, 1, 1]), [1, 1, 4, 1]), [1, 4, 1, 1]) as tf.Tensor4D);
    for (const sampler of [new DDPMSampler(schedule), new DDIMSampler(schedule)]) {
      const x = await sampleDiffusion({
        denoiser: toyDenoiser(),
        sampler,
        shape: [2, 4, 4, 2],
        rng: new Rng(4),
        steps: 25,
        inpaint: { image, mask },
      });
      const out = await values(x);
      const img = await image.data();
      const m = await tf.broadcastTo(mask, [2, 4, 4, 2]).data();
      let unknownDiff = 0;
      out.forEach((v, i) => {
        if (m[i] === 0) expect(v).toBeCloseTo(img[i] as number, 6);
        else unknownDiff = Math.max(unknownDiff, Math.abs(v - (img[i] as number)));
      });
      expect(unknownDiff).toBeGreaterThan(0.05);
    }
    await expect(
      sampleDiffusion({
        denoiser: toyDenoiser(),
        sampler: new DDIMSampler(schedule),
        shape: [2, 4, 4, 2],
        rng: new Rng(4),
        inpaint: { image, mask: tf.ones([2, 3, 4, 1]) },
      }),
    ).rejects.toThrow(ValidationError);
    tf.dispose([image, mask]);
  });
});

describe('cancellation', () => {
  it('rejects with CancelledError when aborted mid-run, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const calls: Array<{ batch: number }> = [];
    const run = sampleDiffusion({
      denoiser: toyDenoiser(calls),
      sampler: new DDPMSampler(schedule),
      shape: [1, 2, 2, 1],
      rng: new Rng(1),
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 3) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(CancelledError);
    expect(calls.length).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sees an abort fired from a timer while sampling (the loop yields to the event loop)', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const sampler = new DDPMSampler(createSchedule({ kind: 'linear' }));
    await expect(
      sampleDiffusion({ denoiser: toyDenoiser(), sampler, shape: [1, 2, 2, 1], rng: new Rng(1), signal: controller.signal }),
    ).rejects.toThrow(CancelledError);
  });

  it('does nothing when the signal is already aborted', async () => {
    const calls: Array<{ batch: number }> = [];
    await expect(
      sampleDiffusion({
        denoiser: toyDenoiser(calls),
        sampler: new DDPMSampler(schedule),
        shape: [1, 2, 2, 1],
        rng: new Rng(1),
        signal: AbortSignal.abort(),
      }),
    ).rejects.toThrow(CancelledError);
    expect(calls.length).toBe(0);
  });
});

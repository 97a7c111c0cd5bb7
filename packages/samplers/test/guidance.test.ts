import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createSchedule,
  DDIMSampler,
  type Denoiser,
  guidedModelOutput,
  modelOutputFromX0,
  type PredictionType,
  rescaleGuidedOutput,
  sampleDiffusion,
  splitPrediction,
} from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);
const schedule = createSchedule({ kind: 'cosine', timesteps: 100 });
const TYPES: PredictionType[] = ['epsilon', 'v', 'sample'];
const SHAPE = [3, 2, 2, 2] as const;
const PER_SAMPLE = 8;

/** A stand-in network whose label scales its output, so that guidance changes each sample's spread: 0.2·x·(1 + y/4) + 0.01·y. */
const scalingDenoiser: Denoiser = (x, _t, y) =>
  tf.tidy(() => {
    const yy = tf.reshape(tf.cast(y ?? tf.zeros([x.shape[0]]), 'float32'), [-1, 1, 1, 1]);
    return tf.add(tf.mul(tf.mul(x, 0.2), tf.add(1, tf.div(yy, 4))), tf.mul(yy, 0.01)) as tf.Tensor4D;
  });

/** x̂_0 of a model output in float64 (closed forms of the three parameterisations). */
function x0Of(type: PredictionType, out: number, x: number, abar: number): number {
  const [sa, sb] = [Math.sqrt(abar), Math.sqrt(1 - abar)];
  return type === 'epsilon' ? (x - sb * out) / sa : type === 'v' ? sa * x - sb * out : out;
}

/** The rescaled x̂_0 in float64: per sample, φ·x̂_g·std(x̂_c)/std(x̂_g) + (1 − φ)·x̂_g (population std). */
function rescaledX0(x0g: number[], x0c: number[], factor: number): number[] {
  const std = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
  };
  const out: number[] = [];
  for (let s = 0; s < x0g.length / PER_SAMPLE; s++) {
    const g = x0g.slice(s * PER_SAMPLE, (s + 1) * PER_SAMPLE);
    const k = std(x0c.slice(s * PER_SAMPLE, (s + 1) * PER_SAMPLE)) / std(g);
    for (const v of g) out.push(factor * k * v + (1 - factor) * v);
  }
  return out;
}

describe('modelOutputFromX0', () => {
  it.each(TYPES)('inverts the x̂_0 of splitPrediction (%s)', async (type) => {
    const rng = new Rng(3);
    const [x, out] = [rng.normal([...SHAPE]), rng.normal([...SHAPE])];
    const abar = schedule.alphasCumprod[40] as number;
    const x0 = splitPrediction(type, out, x, abar, null).predictedX0;
    const back = modelOutputFromX0(type, x0, x, abar);
    const [o, b] = [await out.data(), await back.data()];
    o.forEach((v, i) => {
      expect(b[i]).toBeCloseTo(v, 5);
    });
    tf.dispose([x, out, x0, back]);
  });
});

describe('guidance rescale', () => {
  it.each(TYPES.flatMap((type) => [0.3, 1].map((factor) => [type, factor] as const)))(
    'rescales each guided x̂_0 to the conditional spread, blended by φ (%s, φ = %s)',
    async (type, factor) => {
      const rng = new Rng(5);
      const [x, guided, conditional] = [rng.normal([...SHAPE]), rng.normal([...SHAPE]), rng.normal([...SHAPE])] as tf.Tensor4D[];
      const abar = schedule.alphasCumprod[60] as number;
      const out = rescaleGuidedOutput(guided as tf.Tensor4D, conditional as tf.Tensor4D, x as tf.Tensor4D, {
        factor,
        predictionType: type,
        alphaCumprod: abar,
      });
      const [xv, gv, cv, ov] = await Promise.all([x, guided, conditional, out].map(async (t) => Array.from(await (t as tf.Tensor).data())));
      const x0g = (gv as number[]).map((v, i) => x0Of(type, v, xv?.[i] as number, abar));
      const x0c = (cv as number[]).map((v, i) => x0Of(type, v, xv?.[i] as number, abar));
      const expected = rescaledX0(x0g, x0c, factor);
      const got = (ov as number[]).map((v, i) => x0Of(type, v, xv?.[i] as number, abar));
      got.forEach((v, i) => {
        expect(v).toBeCloseTo(expected[i] as number, 4);
      });
      // The rescale must do something here: the guided and conditional spreads differ.
      expect(Math.max(...got.map((v, i) => Math.abs(v - (x0g[i] as number))))).toBeGreaterThan(0.05);
      tf.dispose([x, guided, conditional, out] as tf.Tensor[]);
    },
  );

  it('with φ = 0 returns the guided output itself', () => {
    const rng = new Rng(6);
    const [x, g, c] = [rng.normal([...SHAPE]), rng.normal([...SHAPE]), rng.normal([...SHAPE])] as tf.Tensor4D[];
    expect(
      rescaleGuidedOutput(g as tf.Tensor4D, c as tf.Tensor4D, x as tf.Tensor4D, {
        factor: 0,
        predictionType: 'epsilon',
        alphaCumprod: 0.5,
      }),
    ).toBe(g);
    tf.dispose([x, g, c] as tf.Tensor[]);
  });

  it('in guidedModelOutput rescales ε_u + s(ε_c − ε_u) against ε_c', async () => {
    const x = new Rng(7).normal([...SHAPE]) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 4, 7], 'int32');
    const abar = schedule.alphasCumprod[30] as number;
    const rescale = { factor: 0.7, predictionType: 'epsilon' as const, alphaCumprod: abar };
    const got = guidedModelOutput(scalingDenoiser, x, 30, labels, 5, 10, rescale);
    const t = tf.fill([3], 30) as tf.Tensor1D;
    const cond = scalingDenoiser(x, t, labels);
    const uncond = scalingDenoiser(x, t, tf.fill([3], 10, 'int32') as tf.Tensor1D);
    const plain = tf.add(uncond, tf.mul(tf.sub(cond, uncond), 5)) as tf.Tensor4D;
    const expected = rescaleGuidedOutput(plain, cond, x, rescale);
    const [gv, ev, pv] = await Promise.all([got.data(), expected.data(), plain.data()]);
    gv.forEach((v, i) => {
      expect(v).toBeCloseTo(ev[i] as number, 5);
    });
    expect(Math.max(...Array.from(gv, (v, i) => Math.abs(v - (pv[i] as number))))).toBeGreaterThan(0.01);
    tf.dispose([x, labels, got, t, cond, uncond, plain, expected]);
  });
});

describe('sampleDiffusion with guidanceRescale', () => {
  const base = () => ({
    denoiser: scalingDenoiser,
    sampler: new DDIMSampler(schedule, { clipSample: false }),
    shape: [...SHAPE] as [number, number, number, number],
    rng: new Rng(1),
    steps: 5,
    classLabels: [1, 3, 6],
    nullClass: 10,
    guidanceScale: 4,
  });

  it("steps with the rescaled x̂_0 (the first step's x̂_0 preview against float64), and φ = 0 is plain guidance", async () => {
    const x0s: number[][] = [];
    const xT = new Rng(1).normal([...SHAPE]);
    const xv = Array.from(await xT.data());
    const result = await sampleDiffusion({
      ...base(),
      guidanceRescale: 0.6,
      onStep: async ({ step, predictedX0 }) => {
        if (step === 1) x0s.push(Array.from(await predictedX0.data()));
      },
    });
    const sampler = new DDIMSampler(schedule);
    sampler.setTimesteps(5);
    const first = sampler.timesteps[0] as number;
    const abar = schedule.alphasCumprod[first] as number;
    // The toy network in float64: ε = 0.2·x·(1 + y/4) + 0.01·y.
    const eps = (v: number, y: number) => 0.2 * v * (1 + y / 4) + 0.01 * y;
    const labelOf = (i: number) => [1, 3, 6][Math.floor(i / PER_SAMPLE)] as number;
    const cond = xv.map((v, i) => eps(v, labelOf(i)));
    const guided = xv.map((v, i) => eps(v, 10) + 4 * ((cond[i] as number) - eps(v, 10)));
    const expected = rescaledX0(
      guided.map((g, i) => x0Of('epsilon', g, xv[i] as number, abar)),
      cond.map((c, i) => x0Of('epsilon', c, xv[i] as number, abar)),
      0.6,
    );
    expect(x0s).toHaveLength(1);
    expect(x0s[0]).toHaveLength(expected.length);
    x0s[0]?.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i] as number, 3);
    });
    const plain = await sampleDiffusion(base());
    const zero = await sampleDiffusion({ ...base(), guidanceRescale: 0 });
    expect(Array.from(await zero.data())).toEqual(Array.from(await plain.data()));
    expect(Array.from(await result.data())).not.toEqual(Array.from(await plain.data()));
    tf.dispose([xT, result, plain, zero]);
  });

  it('refuses a factor outside [0, 1], or one without guidance, and leaks nothing', async () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) {
      await expect(sampleDiffusion({ ...base(), guidanceRescale: bad })).rejects.toThrow(/guidance rescale must be a number in \[0, 1\]/);
    }
    await expect(sampleDiffusion({ ...base(), guidanceScale: 1, guidanceRescale: 0.5 })).rejects.toThrow(ValidationError);
    const warm = await sampleDiffusion({ ...base(), guidanceRescale: 0.7 });
    warm.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) (await sampleDiffusion({ ...base(), guidanceRescale: 0.7 })).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

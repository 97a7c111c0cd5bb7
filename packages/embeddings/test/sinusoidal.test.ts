import '@tensorflow/tfjs-backend-cpu';
import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../../../testing/backend.js';
import { type SinusoidalConvention, type SinusoidalOrder, sinusoidalEmbedding } from '../src/index.js';

beforeAll(async () => {
  await useTestBackend();
});

/** Closed form, in float64, written independently of the implementation. */
function closedForm(t: number, dim: number, maxPeriod: number, convention: SinusoidalConvention, order: SinusoidalOrder): number[] {
  const half = dim / 2;
  const freqs = Array.from({ length: half }, (_, i) =>
    convention === 'transformer' ? maxPeriod ** (-i / half) : Math.exp((-Math.log(maxPeriod) * i) / (half - 1)),
  );
  const sin = freqs.map((f) => Math.sin(t * f));
  const cos = freqs.map((f) => Math.cos(t * f));
  return order === 'sin-cos' ? [...sin, ...cos] : [...cos, ...sin];
}

// The vectors docs/theory.md question 2 shows: dim 8, t = 1, maxPeriod 10000, rounded to six decimals.
const THEORY_Q2: Record<SinusoidalConvention, Record<SinusoidalOrder, number[]>> = {
  transformer: {
    'sin-cos': [0.841471, 0.099833, 0.01, 0.001, 0.540302, 0.995004, 0.99995, 1.0],
    'cos-sin': [0.540302, 0.995004, 0.99995, 1.0, 0.841471, 0.099833, 0.01, 0.001],
  },
  ddpm: {
    'sin-cos': [0.841471, 0.046399, 0.002154, 0.0001, 0.540302, 0.998923, 0.999998, 1.0],
    'cos-sin': [0.540302, 0.998923, 0.999998, 1.0, 0.841471, 0.046399, 0.002154, 0.0001],
  },
};

async function embed(t: number[], dim: number, convention: SinusoidalConvention, order: SinusoidalOrder): Promise<Float32Array> {
  const ts = tf.tensor1d(t);
  const out = sinusoidalEmbedding(ts, dim, { maxPeriod: 10000, convention, order });
  expect(out.shape).toEqual([t.length, dim]);
  const values = (await out.data()) as Float32Array;
  tf.dispose([ts, out]);
  return values;
}

describe('sinusoidalEmbedding', () => {
  for (const convention of ['transformer', 'ddpm'] as const) {
    for (const order of ['sin-cos', 'cos-sin'] as const) {
      it(`dim 8, t = 1 matches the closed form and theory Q2 (${convention}, ${order})`, async () => {
        const got = Array.from(await embed([1], 8, convention, order));
        const expected = closedForm(1, 8, 10000, convention, order);
        for (let i = 0; i < 8; i++) {
          expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-6);
          expect(Math.abs(got[i]! - THEORY_Q2[convention][order][i]!)).toBeLessThan(1e-6);
        }
      });
    }
  }

  it('embeds each row of a batch independently, with real-valued timesteps', async () => {
    const ts = [0, 3, 17.5, 999];
    const got = await embed(ts, 16, 'ddpm', 'sin-cos');
    ts.forEach((t, row) => {
      const expected = closedForm(t, 16, 10000, 'ddpm', 'sin-cos');
      // float32 arguments: t·freq carries a relative error of ~6e-8, so allow |t|·1e-7.
      for (let i = 0; i < 16; i++) expect(Math.abs(got[row * 16 + i]! - expected[i]!)).toBeLessThan(1e-6 + t * 2e-7);
    });
  });

  it('the two conventions differ only in frequency spacing', async () => {
    const a = await embed([1], 8, 'transformer', 'sin-cos');
    const b = await embed([1], 8, 'ddpm', 'sin-cos');
    expect(a[0]).toBeCloseTo(b[0]!, 7); // both start at frequency 1
    expect(Math.abs(a[1]! - b[1]!)).toBeGreaterThan(0.01);
  });

  it('pads an odd dim with one zero column', async () => {
    const got = await embed([5], 7, 'transformer', 'sin-cos');
    expect(got.length).toBe(7);
    expect(got[6]).toBe(0);
    expect(got[0]).toBeCloseTo(Math.sin(5), 6);
  });

  it('rejects bad input with ValidationError', () => {
    const t = tf.tensor1d([1]);
    expect(() => sinusoidalEmbedding(t, 1)).toThrow(ValidationError);
    expect(() => sinusoidalEmbedding(t, 2, { convention: 'ddpm' })).toThrow(ValidationError);
    expect(() => sinusoidalEmbedding(t, 8, { maxPeriod: 1 })).toThrow(ValidationError);
    const t2 = tf.tensor2d([[1]]);
    expect(() => sinusoidalEmbedding(t2 as unknown as tf.Tensor1D, 8)).toThrow(ValidationError);
    tf.dispose([t, t2]);
  });

  it('leaks no tensors', async () => {
    const t = tf.tensor1d([1, 2]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(sinusoidalEmbedding(t, 8));
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});

import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers tfjs's gradients
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { torchStatus } from '../src/index.js';

/** Whether the addon is built here; the suites are skipped, with the reason, when it is not. */
export const status = torchStatus();
export const torchReason = status.available ? undefined : status.reason;

/** Seeded values in [-1, 1) (a small LCG, so the same on every backend and run). */
export function seeded(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

export function randn(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    seeded(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** Runs `compute` on `backend` and returns every output's values and shape. */
export async function runOn(
  backend: string,
  compute: () => tf.Tensor | tf.Tensor[],
): Promise<{ values: number[]; shape: number[]; dtype: string }[]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const result = await Promise.all(list.map(async (t) => ({ values: Array.from(await t.data(), Number), shape: t.shape, dtype: t.dtype })));
  tf.dispose(list);
  return result;
}

/**
 * Runs `compute` on tfjs-backend-cpu and on torch and expects the same shapes, dtypes and
 * values within `tolerance` (absolute, relative to the largest |cpu value| when that exceeds 1).
 */
export async function expectSameAsCpu(compute: () => tf.Tensor | tf.Tensor[], tolerance = 1e-5): Promise<void> {
  const cpu = await runOn('cpu', compute);
  const torch = await runOn('torch', compute);
  expect(torch.length).toBe(cpu.length);
  cpu.forEach((expected, i) => {
    const actual = torch[i]!;
    expect(actual.shape, `output ${i} shape`).toEqual(expected.shape);
    expect(actual.dtype, `output ${i} dtype`).toBe(expected.dtype);
    const scale = Math.max(1, ...expected.values.map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
    let worst = 0;
    expected.values.forEach((v, j) => {
      const w = actual.values[j]!;
      if (Number.isNaN(v) || !Number.isFinite(v)) {
        expect(Object.is(w, v) || (Number.isNaN(v) && Number.isNaN(w)), `output ${i}[${j}]: ${w} vs ${v}`).toBe(true);
        return;
      }
      worst = Math.max(worst, Math.abs(w - v));
    });
    expect(worst / scale, `output ${i}: largest difference ${worst} (scale ${scale})`).toBeLessThanOrEqual(tolerance);
  });
}

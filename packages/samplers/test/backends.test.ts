import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSchedule, DDIMSampler, DDPMSampler, type Denoiser, langevin, sampleDiffusion } from '../src/index.js';

// Every op the samplers use must exist and agree on each backend available here (cpu, wasm):
// the same seed gives the same samples up to float rounding.
const schedule = createSchedule({ kind: 'cosine', timesteps: 50 });
const denoiser: Denoiser = (x, t, y) =>
  tf.tidy(() => {
    const label = y ? tf.reshape(tf.cast(y, 'float32'), [-1, 1, 1, 1]) : tf.scalar(0);
    return tf.add(tf.mul(tf.tanh(x), 0.3), tf.mul(label, 0.01 + 0.0001 * (t.shape[0] ?? 0))) as tf.Tensor4D;
  });

async function runAll(): Promise<number[][]> {
  const image = tf.zeros([1, 3, 3, 2]) as tf.Tensor4D;
  const mask = tf.tensor4d([1, 0, 1, 0, 1, 0, 1, 0, 1], [1, 3, 3, 1]);
  const outputs: tf.Tensor[] = [];
  outputs.push(
    await sampleDiffusion({
      denoiser,
      sampler: new DDPMSampler(schedule),
      shape: [2, 3, 3, 2],
      rng: new Rng(1),
      steps: 10,
      classLabels: [1, 2],
      guidanceScale: 2,
      nullClass: 3,
      inpaint: { image, mask },
    }),
  );
  outputs.push(
    await sampleDiffusion({ denoiser, sampler: new DDIMSampler(schedule, { eta: 0.5 }), shape: [2, 3, 3, 2], rng: new Rng(2), steps: 10 }),
  );
  const x0 = tf.zeros([4, 3]);
  const energy = (x: tf.Tensor) => tf.sum(tf.square(tf.sub(x, 0.2)), 1);
  outputs.push((await langevin(energy, x0, { steps: 10, stepSize: 0.05, noiseStd: 0.1, rng: new Rng(3) })).samples);
  outputs.push((await langevin(energy, x0, { steps: 10, stepSize: 0.05, noiseStd: 0.1, order: 'noise-first', rng: new Rng(3) })).samples);
  const values = [];
  for (const o of outputs) values.push(Array.from(await o.data()));
  tf.dispose([...outputs, image, mask, x0]);
  return values;
}

describe('backends', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('cpu and wasm give the same samples for the same seeds', async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
    const cpu = await runAll();
    expect(await tf.setBackend('wasm')).toBe(true);
    const before = tf.memory().numTensors;
    const wasm = await runAll();
    expect(tf.memory().numTensors).toBe(before);
    cpu.forEach((values, k) => {
      expect(values.every(Number.isFinite)).toBe(true);
      values.forEach((v, i) => {
        expect(Math.abs(v - (wasm[k]?.[i] as number))).toBeLessThan(1e-4);
      });
    });
  });
});

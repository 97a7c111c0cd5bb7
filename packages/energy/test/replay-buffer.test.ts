import { Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../src/index.js';
import { useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

/** A buffer whose slot s holds the constant 10 + s: stored rows are told apart from [-1, 1] noise and from each other. */
function labelledBuffer(slots: number, reinitProbability: number, sampleShape = [3]): ReplayBuffer {
  const buffer = new ReplayBuffer({ sampleShape, capacity: slots, reinitProbability });
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const rows = new Float32Array(slots * size);
  for (let s = 0; s < slots; s++) rows.fill(10 + s, s * size, (s + 1) * size);
  buffer.pushRows(rows);
  return buffer;
}

/** Classifies each drawn row by its values: −1 for noise (all in [-1, 1]), else its slot. */
function rowOrigins(values: Float32Array, rowSize: number): number[] {
  const origins: number[] = [];
  for (let r = 0; r < values.length / rowSize; r++) {
    const row = values.subarray(r * rowSize, (r + 1) * rowSize);
    if (row.every((v) => v >= -1 && v <= 1)) origins.push(-1);
    else if (row.every((v) => v === row[0])) origins.push((row[0] as number) - 10);
    else throw new Error(`row ${r} is neither noise nor a stored sample`);
  }
  return origins;
}

describe('ReplayBuffer', () => {
  it.each([0.05, 0.3])('re-seeds a fraction %s of drawn samples from uniform noise (within 4σ of the binomial)', async (p) => {
    const buffer = labelledBuffer(20, p);
    const rng = new Rng(123);
    const n = 20000;
    const samples = buffer.sample(n, rng);
    expect(samples.shape).toEqual([n, 3]);
    const values = (await samples.data()) as Float32Array;
    samples.dispose();
    const origins = rowOrigins(values, 3);
    const fresh = origins.filter((o) => o === -1).length;
    const sd = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(fresh - n * p)).toBeLessThan(4 * sd);
    // Stored rows are drawn uniformly over the 20 slots: chi-square with 19 dof stays below ~45 (p ≈ 0.001).
    const counts = new Array<number>(20).fill(0);
    for (const o of origins) if (o >= 0) counts[o] = (counts[o] as number) + 1;
    const expected = (n - fresh) / 20;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(45);
    // The noise is uniform on [-1, 1]: mean ≈ 0, variance ≈ 1/3.
    const noise = values.filter((v) => v >= -1 && v <= 1);
    const mean = noise.reduce((s, v) => s + v, 0) / noise.length;
    const variance = noise.reduce((s, v) => s + (v - mean) ** 2, 0) / noise.length;
    expect(Math.abs(mean)).toBeLessThan(4 * Math.sqrt(1 / 3 / noise.length));
    expect(variance).toBeCloseTo(1 / 3, 1);
  });

  it('draws only noise while empty, and never noise with p = 0', async () => {
    const rng = new Rng(1);
    const empty = new ReplayBuffer({ sampleShape: [2], reinitProbability: 0 });
    const batch = empty.sampleWithIndices(50, rng);
    expect(batch.reinitialized).toBe(50);
    expect(Array.from(batch.indices).every((i) => i === -1)).toBe(true);
    batch.samples.dispose();
    const full = labelledBuffer(5, 0, [2]);
    const drawn = full.sampleWithIndices(500, rng);
    expect(rowOrigins((await drawn.samples.data()) as Float32Array, 2)).toEqual(Array.from(drawn.indices));
    expect(drawn.reinitialized).toBe(0);
    drawn.samples.dispose();
  });

  it('writes chains back to their slots, appends new ones, and replaces the oldest when full', () => {
    const buffer = new ReplayBuffer({ sampleShape: [1], capacity: 3, reinitProbability: 0 });
    buffer.pushRows(Float32Array.of(1, 2)); // slots 0, 1
    expect(buffer.size).toBe(2);
    buffer.pushRows(Float32Array.of(20, 3), [1, -1]); // slot 1 continues its chain; 3 appended to slot 2
    buffer.pushRows(Float32Array.of(4, 5)); // full: overwrite slot 0, then slot 1
    expect(buffer.size).toBe(3);
    expect(Array.from(buffer.serialize().data)).toEqual([4, 5, 3]);
    buffer.pushRows(Float32Array.of(6)); // then slot 2
    expect(Array.from(buffer.serialize().data)).toEqual([4, 5, 6]);
  });

  it('survives serialize → JSON → deserialize exactly, and then behaves identically', async () => {
    const rng = new Rng(7);
    const buffer = new ReplayBuffer({ sampleShape: [2, 2], capacity: 16, reinitProbability: 0.25 });
    for (let i = 0; i < 5; i++) {
      const x = rng.uniform([5, 2, 2], -1, 1);
      await buffer.push(x);
      x.dispose();
    }
    const saved = buffer.serialize();
    const restored = ReplayBuffer.deserialize({ meta: JSON.parse(JSON.stringify(saved.meta)), data: new Float32Array(saved.data) });
    expect(restored.serialize().meta).toEqual(saved.meta);
    expect(Array.from(restored.serialize().data)).toEqual(Array.from(saved.data));
    // Same rng state → same draws; same pushes → same contents (cursor restored).
    const a = buffer.drawRows(40, new Rng(99));
    const b = restored.drawRows(40, new Rng(99));
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
    const more = Float32Array.from({ length: 12 }, (_, i) => i / 12);
    buffer.pushRows(more);
    restored.pushRows(more);
    expect(Array.from(restored.serialize().data)).toEqual(Array.from(buffer.serialize().data));
    expect(restored.serialize().meta.cursor).toBe(buffer.serialize().meta.cursor);
  });

  it('rejects bad options, shapes and saved states', async () => {
    expect(() => new ReplayBuffer({ sampleShape: [0] })).toThrow(ValidationError);
    expect(() => new ReplayBuffer({ sampleShape: [2], reinitProbability: 1.5 })).toThrow(ValidationError);
    expect(() => new ReplayBuffer({ sampleShape: [2], capacity: 0 })).toThrow(ValidationError);
    const buffer = new ReplayBuffer({ sampleShape: [2] });
    const wrong = tf.zeros([3, 4]);
    await expect(buffer.push(wrong)).rejects.toThrow(ValidationError);
    wrong.dispose();
    const saved = labelledBuffer(4, 0.1, [2]).serialize();
    expect(() => ReplayBuffer.deserialize({ meta: saved.meta, data: saved.data.subarray(1) })).toThrow(ValidationError);
  });
});

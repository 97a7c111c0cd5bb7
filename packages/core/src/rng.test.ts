import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('gives the same stream for the same seed and a different one for another seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    const sb = Array.from({ length: 5 }, () => b.nextUint32());
    const sc = Array.from({ length: 5 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('restores exactly from a saved state', () => {
    const a = new Rng(7);
    a.float();
    a.float();
    const restored = Rng.fromState(a.getState());
    expect(restored.nextUint32()).toBe(a.nextUint32());
  });

  it('draws identical tensor noise for the same seed', async () => {
    await tf.setBackend('cpu');
    const x = new Rng(1).normal([4, 4]);
    const y = new Rng(1).normal([4, 4]);
    expect(Array.from(await x.data())).toEqual(Array.from(await y.data()));
    tf.dispose([x, y]);
  });

  it('has uniform floats with mean 1/2 and variance 1/12', () => {
    const rng = new Rng(3);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.float();
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - mean * mean - 1 / 12)).toBeLessThan(0.005);
  });
});

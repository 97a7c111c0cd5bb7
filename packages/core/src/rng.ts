import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernel, SEEDED_NORMAL_KERNEL } from './backend/fused-kernels.js';

/**
 * A seeded, serialisable random source for all noise in genlab.
 *
 * The state is one 32-bit integer advanced by SplitMix32, so it can be saved in
 * a checkpoint and restored exactly. Tensor noise is drawn with tfjs's own seeded
 * ops (`tf.randomNormal(..., seed)`), whose values are generated on the CPU side
 * and therefore identical on every backend for the same seed. A backend may draw the
 * normal ones natively (`SEEDED_NORMAL_KERNEL`, LibTorch): same generator, same values.
 */
export interface RngState {
  readonly seed: number;
  readonly counter: number;
}

export class Rng {
  private readonly seed: number;
  private counter: number;

  constructor(seed: number = Date.now() >>> 0, counter = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    this.seed = seed >>> 0;
    this.counter = counter >>> 0;
  }

  static fromState(state: RngState): Rng {
    return new Rng(state.seed, state.counter);
  }

  getState(): RngState {
    return { seed: this.seed, counter: this.counter };
  }

  /** The next 32-bit unsigned integer (SplitMix32 over seed + counter). */
  nextUint32(): number {
    this.counter = (this.counter + 1) >>> 0;
    let z = (this.seed + Math.imul(this.counter, 0x9e3779b9)) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.float() * n);
  }

  /** Standard normal via Box–Muller. */
  gaussian(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A fresh seed for one tfjs random op. */
  nextSeed(): number {
    return this.nextUint32();
  }

  /** A child generator with its own stream (for workers or sub-tasks). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  normal(shape: number[], mean = 0, std = 1): tf.Tensor {
    const seed = this.nextSeed();
    // tfjs reads seed 0 as "unseeded" (Math.random); only it keeps that meaning.
    if (seed === 0 || !hasFusedKernel(SEEDED_NORMAL_KERNEL)) return tf.randomNormal(shape, mean, std, 'float32', seed);
    if (!shape.every((n) => Number.isInteger(n) && n >= 0))
      throw new RangeError(`Rng.normal needs a shape of non-negative integers, got [${shape.join(', ')}]`);
    return tf.engine().runKernel(SEEDED_NORMAL_KERNEL, {}, { shape: [...shape], mean, stdDev: std, seed }) as tf.Tensor;
  }

  uniform(shape: number[], min = 0, max = 1): tf.Tensor {
    return tf.randomUniform(shape, min, max, 'float32', this.nextSeed());
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

import { type Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';

export interface ReplayBufferOptions {
  /** Shape of one sample, e.g. [32, 32, 3] or [2]. */
  readonly sampleShape: readonly number[];
  /** Most samples kept (default 8192). */
  readonly capacity?: number;
  /** Probability that each drawn sample is fresh uniform noise instead of a stored one (default 0.05). */
  readonly reinitProbability?: number;
  /** Range of the uniform noise (default [-1, 1]). */
  readonly noiseRange?: readonly [number, number];
}

/** The JSON half of a saved buffer. */
export interface ReplayBufferMeta {
  readonly format: 1;
  readonly sampleShape: number[];
  readonly capacity: number;
  readonly reinitProbability: number;
  readonly noiseRange: [number, number];
  /** Samples stored (≤ capacity). */
  readonly size: number;
  /** Next slot overwritten once the buffer is full (oldest first). */
  readonly cursor: number;
}

/** A saved buffer: JSON metadata plus the stored samples, `size × prod(sampleShape)` floats. */
export interface SerializedReplayBuffer {
  readonly meta: ReplayBufferMeta;
  readonly data: Float32Array;
}

/** A drawn batch: the samples [n, ...sampleShape] and, per row, the slot it came from (−1 = fresh noise). */
export interface ReplayBatch {
  readonly samples: tf.Tensor;
  readonly indices: Int32Array;
  /** How many rows are fresh noise. */
  readonly reinitialized: number;
}

function checkShape(shape: readonly number[]): number {
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ValidationError(`sampleShape must be positive integers, got [${shape}]`);
  }
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The replay buffer of persistent Langevin chains (Du & Mordatch 2019, Grathwohl et al. 2020):
 * each training step starts its negative samples from stored ones, except a fraction
 * `reinitProbability` restarted from uniform noise. Samples live in one growing Float32Array,
 * not in tensors, so a full CIFAR buffer is one 100 MB allocation and nothing to dispose.
 */
export class ReplayBuffer {
  readonly sampleShape: readonly number[];
  readonly capacity: number;
  readonly reinitProbability: number;
  readonly noiseRange: readonly [number, number];
  private readonly sampleSize: number;
  private data: Float32Array;
  private stored = 0;
  private cursor = 0;

  constructor(options: ReplayBufferOptions) {
    this.sampleSize = checkShape(options.sampleShape);
    this.sampleShape = [...options.sampleShape];
    this.capacity = options.capacity ?? 8192;
    this.reinitProbability = options.reinitProbability ?? 0.05;
    this.noiseRange = options.noiseRange ?? [-1, 1];
    if (!(Number.isInteger(this.capacity) && this.capacity >= 1))
      throw new ValidationError(`capacity must be a positive integer, got ${this.capacity}`);
    const p = this.reinitProbability;
    if (!(p >= 0 && p <= 1)) throw new ValidationError(`reinitProbability must be in [0, 1], got ${p}`);
    const [lo, hi] = this.noiseRange;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi))
      throw new ValidationError(`noiseRange must be [min, max] with min < max, got [${this.noiseRange}]`);
    this.data = new Float32Array(0);
  }

  /** Samples stored now (≤ capacity). */
  get size(): number {
    return this.stored;
  }

  /** n samples [n, ...sampleShape]: each is uniform noise with probability p (always while empty), else a random stored one. */
  sample(n: number, rng: Rng): tf.Tensor {
    return this.sampleWithIndices(n, rng).samples;
  }

  /** Like `sample`, also telling which slot each row came from, so `push(samples, indices)` can write chains back. */
  sampleWithIndices(n: number, rng: Rng): ReplayBatch {
    const rows = this.drawRows(n, rng);
    return {
      samples: tf.tensor(rows.values, [n, ...this.sampleShape], 'float32'),
      indices: rows.indices,
      reinitialized: rows.reinitialized,
    };
  }

  /** The same draw as `sampleWithIndices`, as plain arrays (no tensors). */
  drawRows(n: number, rng: Rng): { values: Float32Array; indices: Int32Array; reinitialized: number } {
    if (!(Number.isInteger(n) && n >= 1)) throw new ValidationError(`n must be a positive integer, got ${n}`);
    const size = this.sampleSize;
    const values = new Float32Array(n * size);
    const indices = new Int32Array(n);
    const [lo, hi] = this.noiseRange;
    let reinitialized = 0;
    for (let i = 0; i < n; i++) {
      const fresh = this.stored === 0 || rng.float() < this.reinitProbability;
      if (fresh) {
        indices[i] = -1;
        reinitialized += 1;
        for (let j = 0; j < size; j++) values[i * size + j] = lo + (hi - lo) * rng.float();
      } else {
        const slot = rng.int(this.stored);
        indices[i] = slot;
        values.set(this.data.subarray(slot * size, (slot + 1) * size), i * size);
      }
    }
    return { values, indices, reinitialized };
  }

  /**
   * Stores samples [n, ...sampleShape] (not disposed). Row i overwrites slot `indices[i]` when
   * that is a valid slot (its chain continues, as in JEM); otherwise it is appended, or once
   * full replaces the oldest-written slot (first in, first out, as in IGEBM).
   */
  async push(samples: tf.Tensor, indices?: ArrayLike<number>): Promise<void> {
    const expected = [samples.shape[0], ...this.sampleShape];
    if (samples.rank !== expected.length || samples.shape.some((d, i) => d !== expected[i])) {
      throw new ValidationError(`push expects samples [n, ${this.sampleShape}], got [${samples.shape}]`);
    }
    this.pushRows((await samples.data()) as Float32Array, indices);
  }

  /** `push` for samples already read into a Float32Array of n × prod(sampleShape). */
  pushRows(values: Float32Array, indices?: ArrayLike<number>): void {
    const size = this.sampleSize;
    if (values.length % size !== 0) throw new ValidationError(`pushRows got ${values.length} values, not a multiple of ${size}`);
    const n = values.length / size;
    if (indices && indices.length !== n) throw new ValidationError(`push got ${indices.length} indices for ${n} samples`);
    for (let i = 0; i < n; i++) {
      const requested = indices?.[i] ?? -1;
      const slot = Number.isInteger(requested) && requested >= 0 && requested < this.stored ? requested : this.claimSlot();
      this.data.set(values.subarray(i * size, (i + 1) * size), slot * size);
    }
  }

  private claimSlot(): number {
    if (this.stored < this.capacity) {
      this.ensureRoom(this.stored + 1);
      return this.stored++;
    }
    const slot = this.cursor;
    this.cursor = (this.cursor + 1) % this.capacity;
    return slot;
  }

  /** Grows the backing array geometrically, up to capacity. */
  private ensureRoom(samples: number): void {
    if (samples * this.sampleSize <= this.data.length) return;
    const target = Math.min(this.capacity, Math.max(samples, 2 * (this.data.length / this.sampleSize), 64));
    const grown = new Float32Array(target * this.sampleSize);
    grown.set(this.data);
    this.data = grown;
  }

  /** A copy of the buffer's state: JSON-safe `meta` and the stored samples. */
  serialize(): SerializedReplayBuffer {
    return {
      meta: {
        format: 1,
        sampleShape: [...this.sampleShape],
        capacity: this.capacity,
        reinitProbability: this.reinitProbability,
        noiseRange: [this.noiseRange[0], this.noiseRange[1]],
        size: this.stored,
        cursor: this.cursor,
      },
      data: this.data.slice(0, this.stored * this.sampleSize),
    };
  }

  /** Rebuilds a buffer saved by `serialize`; the result samples and pushes exactly as the original would. */
  static deserialize(saved: SerializedReplayBuffer): ReplayBuffer {
    const { meta, data } = saved;
    if (meta?.format !== 1) throw new ValidationError(`Unknown replay-buffer format ${String(meta?.format)}`);
    const buffer = new ReplayBuffer(meta);
    const expected = meta.size * buffer.sampleSize;
    if (!(Number.isInteger(meta.size) && meta.size >= 0 && meta.size <= meta.capacity))
      throw new ValidationError(`Invalid replay-buffer size ${meta.size}`);
    if (data.length !== expected) throw new ValidationError(`Replay-buffer data has ${data.length} values, expected ${expected}`);
    if (!(Number.isInteger(meta.cursor) && meta.cursor >= 0 && meta.cursor < meta.capacity))
      throw new ValidationError(`Invalid replay-buffer cursor ${meta.cursor}`);
    buffer.data = Float32Array.from(data);
    buffer.stored = meta.size;
    buffer.cursor = meta.cursor;
    return buffer;
  }
}

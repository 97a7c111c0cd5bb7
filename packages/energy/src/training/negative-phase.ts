import { type Rng, ValidationError } from '@lab/core';
import { type LangevinOptions, langevin } from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ClassLabels, energyFunction, inferEnergyMode, labelTensor, numClassesOf } from '../energy-function.js';
import type { ReplayBuffer } from './replay-buffer.js';

/** Any sampler with `langevin`'s signature (the default is `langevin` from `@lab/samplers`). */
export type LangevinSampler = (
  energyFn: (x: tf.Tensor) => tf.Tensor,
  x0: tf.Tensor,
  options: LangevinOptions,
) => Promise<{ samples: tf.Tensor }>;

/** Langevin settings for the negative phase (rng and signal come from the step options). */
export type NegativePhaseOptions = Omit<LangevinOptions, 'rng' | 'signal' | 'onStep' | 'trajectoryEvery'>;

export interface SampleNegativesOptions {
  readonly model: tfl.LayersModel;
  readonly buffer: ReplayBuffer;
  /** Negatives to draw. */
  readonly count: number;
  readonly rng: Rng;
  /**
   * Conditional models: required, one label per negative (or one for all); the chains run on
   * E(x, y). Energy and JEM models ignore them (JEM's negatives come from its marginal
   * E(x) = −logsumexp f(x)).
   */
  readonly labels?: ClassLabels;
  /** Langevin settings (defaults: `langevin`'s, i.e. 60 steps, η = 10, σ = 0.005, clip 0.03, [-1, 1]). */
  readonly langevin?: NegativePhaseOptions;
  readonly signal?: AbortSignal;
  /** Replaces `langevin` from `@lab/samplers` (tests, custom samplers). */
  readonly sampler?: LangevinSampler;
}

/** The negatives of one contrastive-divergence step, and where in the buffer their chains go. */
export interface NegativeSamples {
  /** The chains' ends [count, ...sampleShape]; the caller disposes them. */
  readonly samples: tf.Tensor;
  /** Per row, the buffer slot its chain started from (−1 = fresh noise): pass to `buffer.push` / `pushRows`. */
  readonly indices: Int32Array;
  /** Rows restarted from noise. */
  readonly reinitialized: number;
}

/**
 * The negative phase of contrastive divergence with a replay buffer: draw `count` starting points
 * from `buffer` (with their slots), then run Langevin on the model's current energy in inference
 * mode (spectral norm uses its stored vectors; conditional models with their `labels`). The rng
 * is drawn in that order: the buffer draw, then the chain. The buffer is not written: the caller
 * pushes `samples` with `indices` when its step is done. The start tensor is disposed; nothing
 * else is left behind but `samples`.
 */
export async function sampleNegatives(options: SampleNegativesOptions): Promise<NegativeSamples> {
  const { model, buffer, count, rng } = options;
  if (!(Number.isInteger(count) && count >= 1)) throw new ValidationError(`count must be a positive integer, got ${count}`);
  const mode = inferEnergyMode(model);
  let classLabel: tf.Tensor1D | undefined;
  if (mode === 'conditional') {
    if (options.labels === undefined) throw new ValidationError('A conditional energy model needs labels for its negatives');
    classLabel = labelTensor(options.labels, count, numClassesOf(model, mode));
  }
  const ownsLabels = classLabel !== undefined && classLabel !== options.labels;
  try {
    const start = buffer.sampleWithIndices(count, rng);
    const energyFn = energyFunction(model, { mode, ...(classLabel ? { classLabel } : {}) });
    let samples: tf.Tensor | undefined;
    try {
      ({ samples } = await (options.sampler ?? langevin)(energyFn, start.samples, {
        ...options.langevin,
        rng,
        ...(options.signal ? { signal: options.signal } : {}),
      }));
    } finally {
      if (samples !== start.samples) start.samples.dispose();
    }
    return { samples, indices: start.indices, reinitialized: start.reinitialized };
  } finally {
    if (ownsLabels) classLabel?.dispose();
  }
}

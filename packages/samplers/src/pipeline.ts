import { type Rng, throwIfAborted, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkGuidanceRescale, type GuidanceRescale, rescaleGuidedOutput } from './guidance.js';
import type { Denoiser, Sampler } from './sampler.js';
import { yieldToEventLoop } from './yield.js';

/** Progress of one reverse step, passed to `onStep` after the step. */
export interface DiffusionStepInfo {
  /** 1-based index of the step just taken. */
  readonly step: number;
  readonly total: number;
  /** The timestep the step started from. */
  readonly t: number;
  /** The sample after the step. Valid only during the callback: `clone()` it to keep it. */
  readonly x: tf.Tensor4D;
  /** The step's x̂_0 preview, in [−1, 1] when the sampler clips. Valid only during the callback. */
  readonly predictedX0: tf.Tensor4D;
}

/**
 * Inpainting: pixels where `mask` is 1 are generated, the others are known and copied from
 * `image` (diffusers' convention, and the HTTP API's: white is repainted).
 */
export interface InpaintOptions {
  /** The known image [B,H,W,C] (or [1,H,W,C], broadcast) in [−1, 1]. */
  readonly image: tf.Tensor4D;
  /** 1 = to generate, 0 = known; shape broadcastable to x ([B|1, H, W, C|1]). */
  readonly mask: tf.Tensor4D;
}

export interface SampleDiffusionOptions {
  readonly denoiser: Denoiser;
  /** A DDPM or DDIM sampler; its current `timesteps` are used unless `steps` is given. */
  readonly sampler: Sampler;
  /** [B, H, W, C] of the samples. */
  readonly shape: readonly [number, number, number, number];
  /** The only source of randomness: the same seed gives the same samples. */
  readonly rng: Rng;
  /** If given, calls `sampler.setTimesteps(steps)` first. */
  readonly steps?: number;
  /** One class label per sample (integers ≥ 0), for class-conditional denoisers. A tensor is read, not kept. */
  readonly classLabels?: readonly number[] | Int32Array | tf.Tensor1D;
  /**
   * Classifier-free guidance scale s: ε = ε_uncond + s·(ε_cond − ε_uncond). 1 (the default)
   * is the plain conditional model and costs one pass; any other value batches the
   * conditional and unconditional halves through the denoiser once, and needs `nullClass`.
   */
  readonly guidanceScale?: number;
  /** The label meaning "no class" (the LabelEmbedding's null class, = numClasses). */
  readonly nullClass?: number;
  /**
   * Guidance rescale φ in [0, 1] (default 0, plain guidance): each step's guided x̂_0 is pulled
   * towards the conditional x̂_0's standard deviation (see `rescaleGuidedOutput`); only with
   * `guidanceScale` ≠ 1.
   */
  readonly guidanceRescale?: number;
  readonly inpaint?: InpaintOptions;
  /** Called after every step (awaited, so it may encode a preview). */
  readonly onStep?: (info: DiffusionStepInfo) => void | Promise<void>;
  /** Checked before every step; an abort rejects with CancelledError. */
  readonly signal?: AbortSignal;
}

function checkLabels(labels: ArrayLike<number>, batch: number): void {
  if (labels.length !== batch) throw new ValidationError(`classLabels has ${labels.length} labels for a batch of ${batch}`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < 0) throw new ValidationError(`Class labels must be integers ≥ 0, got ${y}`);
  }
}

function checkShape(shape: readonly number[]): void {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ValidationError(`shape must be [B, H, W, C] of positive integers, got [${shape}]`);
  }
}

function checkBroadcastable(name: string, tensor: tf.Tensor, shape: readonly number[]): void {
  const ok = tensor.rank === 4 && tensor.shape.every((d, i) => d === shape[i] || d === 1);
  if (!ok) throw new ValidationError(`inpaint.${name} of shape [${tensor.shape}] does not broadcast to [${shape}]`);
}

/**
 * The model output at (x, t), with classifier-free guidance when labels and a scale ≠ 1 are
 * given: the conditional and unconditional passes share one denoiser call on a doubled batch.
 * With `rescale`, the guided output is rescaled (`rescaleGuidedOutput`). Call inside `tf.tidy`.
 */
export function guidedModelOutput(
  denoiser: Denoiser,
  x: tf.Tensor4D,
  t: number,
  labels: tf.Tensor1D | undefined,
  guidanceScale: number,
  nullClass: number | undefined,
  rescale?: GuidanceRescale,
): tf.Tensor4D {
  const batch = x.shape[0];
  const checkOut = (out: tf.Tensor, rows: number) => {
    const expected = [rows, ...x.shape.slice(1)];
    if (out.rank !== 4 || out.shape.some((d, i) => d !== expected[i])) {
      throw new ValidationError(`Denoiser returned shape [${out.shape}], expected [${expected}]`);
    }
  };
  if (!labels || guidanceScale === 1) {
    const out = denoiser(x, tf.fill([batch], t, 'float32') as tf.Tensor1D, labels);
    checkOut(out, batch);
    return out;
  }
  if (nullClass === undefined) throw new ValidationError('Classifier-free guidance needs nullClass (the label meaning "no class")');
  const both = denoiser(
    tf.concat([x, x], 0),
    tf.fill([2 * batch], t, 'float32') as tf.Tensor1D,
    tf.concat([labels, tf.fill([batch], nullClass, 'int32') as tf.Tensor1D], 0),
  );
  checkOut(both, 2 * batch);
  const [cond, uncond] = tf.split(both, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
  const guided = tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidanceScale)) as tf.Tensor4D;
  return rescale === undefined ? guided : rescaleGuidedOutput(guided, cond, x, rescale);
}

/**
 * Runs the reverse diffusion loop: x_T ~ N(0, I), then one `sampler.step` per timestep,
 * each in its own `tf.tidy`. Returns x_0 [B,H,W,C] (in [−1, 1] when the sampler clips x̂_0;
 * it is not clamped here). The caller owns the result; no other tensor outlives the call.
 *
 * Inpainting (`inpaint`, mask 1 = generate) replaces the known pixels (mask 0) after every step
 * by the known image noised to the step's new timestep (q(x_prev | x_0), fresh noise), and by the
 * image itself after the last step, so the known region of the result equals `inpaint.image`.
 */
export async function sampleDiffusion(options: SampleDiffusionOptions): Promise<tf.Tensor4D> {
  const { denoiser, sampler, rng, signal, onStep, inpaint } = options;
  const shape = [...options.shape] as [number, number, number, number];
  checkShape(shape);
  const guidanceScale = options.guidanceScale ?? 1;
  if (!Number.isFinite(guidanceScale)) throw new ValidationError(`guidanceScale must be finite, got ${guidanceScale}`);
  const guidanceRescale = options.guidanceRescale ?? 0;
  checkGuidanceRescale(guidanceRescale);
  if (guidanceRescale !== 0 && guidanceScale === 1)
    throw new ValidationError('guidanceRescale rescales guidance: it needs guidanceScale ≠ 1');
  const labelValues = options.classLabels instanceof tf.Tensor ? await options.classLabels.data() : options.classLabels;
  if (labelValues) checkLabels(labelValues, shape[0]);
  else if (guidanceScale !== 1) throw new ValidationError('guidanceScale ≠ 1 needs classLabels');
  if (options.nullClass !== undefined && !(Number.isInteger(options.nullClass) && options.nullClass >= 0)) {
    throw new ValidationError(`nullClass must be an integer ≥ 0, got ${options.nullClass}`);
  }
  if (inpaint) {
    checkBroadcastable('image', inpaint.image, shape);
    checkBroadcastable('mask', inpaint.mask, shape);
  }
  if (options.steps !== undefined) sampler.setTimesteps(options.steps);
  throwIfAborted(signal);

  const timesteps = [...sampler.timesteps];
  const abar = sampler.schedule.alphasCumprod;
  const labels = labelValues ? tf.tensor1d(Array.from(labelValues), 'int32') : undefined;
  // Replaces the known region of x by the known image noised to timestep tPrev (tPrev < 0: clean).
  const withKnownPixels = (x: tf.Tensor, tPrev: number): tf.Tensor => {
    if (!inpaint) return x;
    const a = tPrev < 0 ? 1 : (abar[tPrev] as number);
    const known = a === 1 ? inpaint.image : tf.add(tf.mul(inpaint.image, Math.sqrt(a)), tf.mul(rng.normal(shape), Math.sqrt(1 - a)));
    return tf.add(tf.mul(tf.sub(1, inpaint.mask), known), tf.mul(inpaint.mask, x));
  };

  let x: tf.Tensor4D | undefined;
  try {
    x = tf.tidy(() => withKnownPixels(rng.normal(shape), timesteps[0] ?? -1)) as tf.Tensor4D;
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(signal);
      const t = timesteps[i] as number;
      const current = x;
      const result = tf.tidy(() => {
        const rescale =
          guidanceRescale === 0
            ? undefined
            : { factor: guidanceRescale, predictionType: sampler.predictionType ?? 'epsilon', alphaCumprod: abar[t] as number };
        const output = guidedModelOutput(denoiser, current, t, labels, guidanceScale, options.nullClass, rescale);
        const { prevSample, predictedX0 } = sampler.step(output, t, current, rng);
        return { next: withKnownPixels(prevSample, sampler.previousTimestep(t)) as tf.Tensor4D, predictedX0: predictedX0 as tf.Tensor4D };
      });
      x = result.next;
      current.dispose();
      try {
        if (onStep) await onStep({ step: i + 1, total: timesteps.length, t, x, predictedX0: result.predictedX0 });
      } finally {
        result.predictedX0.dispose();
      }
      // Let timers and I/O (e.g. a client disconnect that aborts `signal`) run between steps.
      await yieldToEventLoop();
    }
    throwIfAborted(signal);
    return x;
  } catch (error) {
    x?.dispose();
    throw error;
  } finally {
    labels?.dispose();
  }
}

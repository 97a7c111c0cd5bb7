/**
 * Shared by denoising-levels.ts and unet-as-score.ts: a diffusion UNet used as a denoiser at a
 * noise level σ of the variance-exploding convention (x = clean + σε) the energy models use.
 */
import { loadModelCheckpoint, Rng } from '@lab/core';
import { createSchedule, type NoiseSchedule } from '@lab/samplers';
import { unetDenoiser } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import { loadSplit } from '../../apps/trainer/src/commands/data.js';
import { recordsToBatch } from '../../apps/trainer/src/data/batches.js';

/** The timestep whose √(1/ᾱ_t − 1) is nearest σ: where x_t/√ᾱ_t = clean + σ_t·ε matches σ. */
export function nearestTimestep(schedule: NoiseSchedule, sigma: number): number {
  const gap = (t: number) => Math.abs((schedule.sqrtRecipm1AlphasCumprod[t] as number) - sigma);
  let best = 0;
  for (let t = 1; t < schedule.timesteps; t++) if (gap(t) < gap(best)) best = t;
  return best;
}

export interface UnetAtSigma {
  readonly schedule: NoiseSchedule;
  /**
   * The UNet's ε̂ for `x` (= clean + σε) at timestep `t`, unconditional (the null class where the
   * model has classes), owned by the caller.
   */
  epsilon(x: tf.Tensor, t: number): tf.Tensor;
  dispose(): void;
}

/** Loads an exported diffusion model (e.g. apps/api/models/ddpm-cifar10) as a denoiser at any σ. */
export async function loadUnetAtSigma(dir: string): Promise<UnetAtSigma> {
  const { model, manifest } = await loadModelCheckpoint(dir, 'diffusion', { readTensors: false });
  const config = manifest.config as { schedule: Parameters<typeof createSchedule>[0]; unet: { numClasses?: number } };
  const schedule = createSchedule(config.schedule);
  const denoise = unetDenoiser(model);
  const { numClasses } = config.unet;
  return {
    schedule,
    epsilon: (x, t) =>
      tf.tidy(() => {
        const batch = x.shape[0] as number;
        const labels = numClasses === undefined ? undefined : (tf.fill([batch], numClasses, 'int32') as tf.Tensor1D);
        return denoise(tf.mul(x, schedule.sqrtAlphasCumprod[t] as number) as tf.Tensor4D, tf.fill([batch], t) as tf.Tensor1D, labels);
      }),
    dispose: () => model.dispose(),
  };
}

/** mean(x²) as a number. */
export async function meanSquareOf(x: tf.Tensor): Promise<number> {
  const meanSquare = tf.tidy(() => tf.mean(tf.square(x)));
  const value = (await meanSquare.data())[0] as number;
  meanSquare.dispose();
  return value;
}

/** The first n CIFAR-10 test images in [−1, 1] (from GENLAB_CIFAR10_DIR or the cache), owned by the caller. */
export async function testImages(n: number): Promise<tf.Tensor4D> {
  const { records } = await loadSplit('test', {});
  return recordsToBatch(
    records,
    Array.from({ length: n }, (_, i) => i),
    new Rng(0),
  ).images as tf.Tensor4D;
}

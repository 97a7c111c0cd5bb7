import { ValidationError } from '@lab/core';
import { createSchedule, type ScheduleKind, timestepAtSigma } from '@lab/samplers';
import {
  createUNet,
  type DiffusionModelConfig,
  resolveUNetConfig,
  type UNetConfig,
  type UNetConfigInput,
  type UNetPresetName,
  unconditionalUNet,
} from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { NoiseConditionalEnergyFn, NoiseLevels } from './noise-conditional.js';

/**
 * The body of a score-matching energy that is a diffusion UNet (unconditional, output shaped like
 * its input): see {@link unetEnergy}.
 */
export interface UNetEnergyNetConfig {
  readonly architecture: 'unet';
  /** [H, W, C] of the images, from the UNet's. */
  readonly inputShape: readonly [number, number, number];
  readonly unet: UNetConfig;
  /**
   * The variance-preserving schedule whose timesteps the UNet's time embedding takes: level σ is
   * asked at `timestepAtSigma(schedule, σ)` (default linear, T = 1000, DDPM's: so a UNet trained as a
   * DDPM denoiser starts right).
   */
  readonly schedule: { readonly kind: ScheduleKind; readonly timesteps: number };
}

export interface UNetEnergyNetOptions {
  readonly architecture: 'unet';
  /** Default `tiny`; must be unconditional. */
  readonly unet?: UNetPresetName | UNetConfigInput;
  readonly schedule?: Partial<UNetEnergyNetConfig['schedule']>;
}

const UNET_ENERGY_SCHEDULE_DEFAULT = { kind: 'linear', timesteps: 1000 } as const;

/** True for the options or config of a UNet energy body. */
export function isUNetEnergyNet(net: unknown): net is UNetEnergyNetOptions {
  return typeof net === 'object' && net !== null && (net as { architecture?: unknown }).architecture === 'unet';
}

/** Fills defaults and validates (ValidationError names the bad field). */
export function resolveUNetEnergyNetConfig(options: UNetEnergyNetOptions): UNetEnergyNetConfig {
  const unet = resolveUNetConfig(options.unet ?? 'tiny');
  if (unet.numClasses !== undefined)
    throw new ValidationError(
      'net.unet: a UNet energy is unconditional; leave out numClasses (unconditionalUNet converts a class-conditional one)',
      {
        details: { field: 'net.unet.numClasses' },
      },
    );
  if (unet.outChannels !== unet.inChannels)
    throw new ValidationError(`net.unet: outChannels (${unet.outChannels}) must equal inChannels (${unet.inChannels})`, {
      details: { field: 'net.unet.outChannels' },
    });
  const schedule = { ...UNET_ENERGY_SCHEDULE_DEFAULT, ...options.schedule };
  createSchedule(schedule); // validates it
  return { architecture: 'unet', inputShape: [unet.imageSize, unet.imageSize, unet.inChannels], unet, schedule };
}

/** A fresh (randomly initialised) UNet for the body. */
export function createUNetEnergyNet(net: UNetEnergyNetConfig): tfl.LayersModel {
  return createUNet(net.unet);
}

/**
 * A noise-conditional energy whose body is a diffusion UNet u(x, t):
 *   E(x, σ) = ⟨x, u(x/√(1 + σ²), t(σ))⟩ / 2σ,
 * with t(σ) the timestep at which the net's schedule holds σ (`timestepAtSigma`). A scalar energy,
 * trained like any other (its gradient fitted to the score by `denoisingScoreMatchingLoss`).
 *
 * Why this form: σ∇ₓE = ½(u + c·Jᵀx) with c = 1/√(1 + σ²), and for Gaussian data with the ideal,
 * linear ε-predictor u = σx/(s² + σ²) it is exactly u (E is then the data's blurred energy
 * ‖x‖²/2(s² + σ²)). So a UNet trained as a DDPM ε-predictor starts near a good energy: the bundled
 * one, put in this form, starts at a denoising loss 1.8–3× its own ε-loss at σ = 0.3–3, against
 * 3.6–9× in the ½‖u‖² form of Salimans & Ho (docs/results.md). The UNet runs in inference mode
 * (no dropout). Differentiable twice (the UNet's second-order gradients are in @lab/core and
 * @lab/unet).
 */
export function unetEnergy(model: tfl.LayersModel, sigmas: NoiseLevels, net: UNetEnergyNetConfig): NoiseConditionalEnergyFn {
  if (model.inputs.length !== 2) throw new ValidationError('a UNet energy needs an unconditional UNet (inputs [x, t])');
  if (sigmas.some((s) => !(Number.isFinite(s) && s > 0))) throw new ValidationError('noise levels must be finite and > 0');
  const schedule = createSchedule(net.schedule);
  const timesteps = sigmas.map((sigma) => timestepAtSigma(schedule, sigma));
  const inputScales = sigmas.map((sigma) => 1 / Math.sqrt(1 + sigma ** 2));
  const halfInverseSigmas = sigmas.map((sigma) => 1 / (2 * sigma));
  return (x, level) =>
    tf.tidy(() => {
      const batch = x.shape[0] as number;
      if (typeof level === 'number' && !(Number.isInteger(level) && level >= 0 && level < sigmas.length))
        throw new ValidationError(`noise level must be an integer in [0, ${sigmas.length}), got ${level}`);
      const perSample = (values: readonly number[]) =>
        typeof level === 'number' ? tf.fill([batch], values[level] as number) : tf.gather(tf.tensor1d(values as number[]), level);
      const scale = tf.reshape(perSample(inputScales), [batch, 1, 1, 1]);
      const output = model.apply([tf.mul(x, scale), perSample(timesteps)], { training: false }) as tf.Tensor;
      const dot = tf.sum(tf.reshape(tf.mul(x, output), [batch, -1]), 1);
      return tf.mul(dot, perSample(halfInverseSigmas)) as tf.Tensor1D;
    });
}

/**
 * The body of a UNet energy from a trained diffusion model (its UNet and schedule): a
 * class-conditional UNet is taken at its null class (`unconditionalUNet`). Returns a new model
 * (owned by the caller) and the body's config.
 */
export function unetEnergyNetFromDiffusion(
  model: tfl.LayersModel,
  config: Pick<DiffusionModelConfig, 'unet' | 'schedule'>,
): { net: UNetEnergyNetConfig; model: tfl.LayersModel } {
  if (config.unet.numClasses === undefined) {
    const copy = createUNet(config.unet);
    copy.setWeights(model.getWeights());
    return { net: resolveUNetEnergyNetConfig({ architecture: 'unet', unet: config.unet, schedule: config.schedule }), model: copy };
  }
  const unconditional = unconditionalUNet(model, config.unet);
  return {
    net: resolveUNetEnergyNetConfig({ architecture: 'unet', unet: unconditional.config, schedule: config.schedule }),
    model: unconditional.model,
  };
}

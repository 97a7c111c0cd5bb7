import { createClassifier, resolveClassifierConfig } from '@lab/classifier';
import { adam, Rng } from '@lab/core';
import { contrastiveDivergenceLoss, createEnergyNet, energyFunction, modelEnergies, resolveEnergyNetConfig } from '@lab/energy';
import { epsilonLoss } from '@lab/samplers';
import { countParams, createUNet, resolveUNetConfig } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** The models the bench measures (names as they appear in the tables). */
export type BenchModelName = 'unet-tiny' | 'unet-small' | 'energy-small' | 'classifier-medium';
export const BENCH_MODELS: readonly BenchModelName[] = ['unet-tiny', 'unet-small', 'energy-small', 'classifier-medium'];

/** What the PyTorch mirror needs to rebuild the same architecture (bench/torch/bench_torch.py --spec). */
export interface ModelSpec {
  kind: 'unet' | 'energy' | 'classifier';
  config: unknown;
  params: number;
}

/**
 * One model with its two measured steps. Each step does all of its work before it resolves
 * (it awaits the data of its result), and leaves no tensors behind.
 */
export interface Workload {
  spec: ModelSpec;
  /** forward + backward + Adam update on `trainBatch` images; resolves to the loss. */
  train(): Promise<number>;
  /** One sampling step on `inferBatch` images (UNet: one denoiser call; energy: one Langevin step). */
  infer(): Promise<void>;
  /** Sum of |w| over the trainable weights: proves that `train` really updates them. */
  weightChecksum(): Promise<number>;
  dispose(): void;
}

export interface WorkloadOptions {
  trainBatch: number;
  inferBatch: number;
  seed?: number;
}

/** Every trainable weight of a layers model as the variables an optimizer updates. */
function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

async function checksum(model: tfl.LayersModel): Promise<number> {
  const total = tf.tidy(() => tf.addN(trainableVariables(model).map((v) => tf.sum(tf.abs(v)))));
  const value = (await total.data())[0] ?? Number.NaN;
  total.dispose();
  return value;
}

/** Runs one `optimizer.minimize` and reads the loss outside any tidy. */
async function minimize(optimizer: tf.Optimizer, variables: tf.Variable[], loss: () => tf.Scalar): Promise<number> {
  const cost = optimizer.minimize(loss, true, variables);
  if (!cost) throw new Error('optimizer.minimize returned no cost');
  const value = (await cost.data())[0] ?? Number.NaN;
  cost.dispose();
  return value;
}

/**
 * A UNet preset: train = the DDPM ε-loss of `createUNet(preset)` on a fixed noisy batch with
 * random timesteps, Adam(1e-4); infer = one inference-mode call on `inferBatch` images (one
 * denoising step of a sampler; the sampler's own arithmetic is negligible beside it).
 */
export function unetWorkload(preset: 'tiny' | 'small', options: WorkloadOptions): Workload {
  const config = resolveUNetConfig(preset);
  const model = createUNet(preset);
  const rng = new Rng(options.seed ?? 1);
  const { imageSize: size, inChannels: c } = config;
  const xTrain = rng.normal([options.trainBatch, size, size, c]);
  const noise = rng.normal([options.trainBatch, size, size, c]);
  const tTrain = tf.tidy(() => tf.floor(rng.uniform([options.trainBatch, 1], 0, 1000)));
  const xInfer = rng.normal([options.inferBatch, size, size, c]);
  const tInfer = tf.fill([options.inferBatch, 1], 500);
  const optimizer = adam(1e-4);
  const variables = trainableVariables(model);
  return {
    spec: { kind: 'unet', config, params: countParams(model) },
    train: () => minimize(optimizer, variables, () => epsilonLoss(model.apply([xTrain, tTrain], { training: true }) as tf.Tensor, noise)),
    async infer() {
      const out = tf.tidy(() => model.apply([xInfer, tInfer], { training: false }) as tf.Tensor);
      await out.data();
      out.dispose();
    },
    weightChecksum: () => checksum(model),
    dispose() {
      tf.dispose([xTrain, noise, tTrain, xInfer, tInfer]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

/**
 * `createEnergyNet('small')`: train = contrastiveDivergenceLoss (α 0.1) with the first half of
 * the batch as data and the second half as negatives, one training-mode call (`modelEnergies`, as
 * the trainer's EnergyTask makes it), Adam(1e-4) (the
 * parameter update of `trainEnergyStep`, without its Langevin negative phase); infer = one
 * Langevin step (∂E/∂x, clipped gradient step, noise, clamp) on `inferBatch` images.
 */
export function energyWorkload(options: WorkloadOptions): Workload {
  if (options.trainBatch < 2 || options.trainBatch % 2 !== 0)
    throw new RangeError('the energy train batch must be even (data + negatives)');
  const config = resolveEnergyNetConfig('small');
  const model = createEnergyNet('small');
  const rng = new Rng(options.seed ?? 1);
  const [h, w, c] = config.inputShape as [number, number, number];
  const xTrain = rng.uniform([options.trainBatch, h, w, c], -1, 1);
  const xInfer = rng.uniform([options.inferBatch, h, w, c], -1, 1);
  const half = options.trainBatch / 2;
  const optimizer = adam(1e-4);
  const variables = trainableVariables(model);
  const energy = energyFunction(model);
  const gradient = tf.grad((x: tf.Tensor) => tf.sum(energy(x)));
  return {
    spec: { kind: 'energy', config, params: countParams(model) },
    train: () =>
      minimize(optimizer, variables, () => {
        const { energies } = modelEnergies(model, xTrain, { training: true });
        const parts = contrastiveDivergenceLoss(tf.slice(energies, 0, half), tf.slice(energies, half, half), 0.1);
        tf.dispose([parts.cdLoss, parts.regularizer, parts.ePosMean, parts.eNegMean]);
        return parts.loss;
      }),
    async infer() {
      const next = tf.tidy(() => {
        const g = tf.clipByValue(gradient(xInfer), -0.03, 0.03);
        return tf.clipByValue(tf.add(tf.sub(xInfer, tf.mul(g, 10)), rng.normal(xInfer.shape, 0, 0.005)), -1, 1);
      });
      await next.data();
      next.dispose();
    },
    weightChecksum: () => checksum(model),
    dispose() {
      tf.dispose([xTrain, xInfer]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

/**
 * `createClassifier('medium')` (batch norm, max-pooling, dropout: the layers the other models lack):
 * train = cross-entropy on random labels in training mode (batch statistics, dropout), Adam(1e-3);
 * infer = one inference-mode call on `inferBatch` images (`/classify`, evaluation's features).
 */
export function classifierWorkload(options: WorkloadOptions): Workload {
  const config = resolveClassifierConfig('medium');
  const model = createClassifier('medium');
  const rng = new Rng(options.seed ?? 1);
  const xTrain = rng.uniform([options.trainBatch, ...config.inputShape], -1, 1);
  const labels = tf.tidy(() =>
    tf.oneHot(tf.cast(tf.floor(rng.uniform([options.trainBatch], 0, config.numClasses)), 'int32'), config.numClasses),
  );
  const xInfer = rng.uniform([options.inferBatch, ...config.inputShape], -1, 1);
  const optimizer = adam(1e-3);
  const variables = trainableVariables(model);
  return {
    spec: { kind: 'classifier', config, params: countParams(model) },
    train: () =>
      minimize(optimizer, variables, () => {
        const probabilities = model.apply(xTrain, { training: true }) as tf.Tensor;
        return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.log(tf.clipByValue(probabilities, 1e-7, 1))), -1))) as tf.Scalar;
      }),
    async infer() {
      const out = tf.tidy(() => model.apply(xInfer, { training: false }) as tf.Tensor);
      await out.data();
      out.dispose();
    },
    weightChecksum: () => checksum(model),
    dispose() {
      tf.dispose([xTrain, labels, xInfer]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

/** A bench script's `--model` and `--step`, checked (a RangeError names what is accepted). */
export function modelAndStep(values: { model?: string; step?: string }): { model: BenchModelName; step: 'train' | 'infer' } {
  const model = values.model as BenchModelName;
  if (!BENCH_MODELS.includes(model)) throw new RangeError(`--model must be one of ${BENCH_MODELS.join(', ')}`);
  const step = values.step;
  if (step !== 'train' && step !== 'infer') throw new RangeError('--step must be train or infer');
  return { model, step };
}

export function createWorkload(name: BenchModelName, options: WorkloadOptions): Workload {
  switch (name) {
    case 'unet-tiny':
      return unetWorkload('tiny', options);
    case 'unet-small':
      return unetWorkload('small', options);
    case 'energy-small':
      return energyWorkload(options);
    case 'classifier-medium':
      return classifierWorkload(options);
  }
}

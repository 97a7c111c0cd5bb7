import { createClassifier, resolveClassifierConfig } from '@lab/classifier';
import { adam, CapturedStep, captureTrainingStep, Rng } from '@lab/core';
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
  /**
   * Run both steps as `CapturedStep`s (@lab/core): replayed without tfjs's engine on a backend that
   * records steps (torch). A step the recorder refuses throws (`onRefused: 'throw'`).
   */
  capture?: boolean;
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

/** Reads a loss outside any tidy and disposes it. */
async function lossValue(cost: tf.Tensor | null | undefined): Promise<number> {
  if (!cost) throw new Error('optimizer.minimize returned no cost');
  const value = (await cost.data())[0] ?? Number.NaN;
  cost.dispose();
  return value;
}

/**
 * A training step, `optimizer.minimize(() => loss(inputs))` resolving to the loss: as it is, or
 * with `capture` as a `captureTrainingStep` (disposed with `steps`).
 */
function trainingStep(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  loss: (inputs: readonly tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  options: WorkloadOptions,
  steps: CapturedStep[],
): () => Promise<number> {
  if (!options.capture) return () => lossValue(optimizer.minimize(() => loss(inputs), true, variables));
  const step = captureTrainingStep(optimizer, loss, { variables, onRefused: 'throw' });
  steps.push(step);
  return () => lossValue(step.run(inputs)[0]);
}

/**
 * A sampling step whose one result it awaits and disposes: as it is (in a tidy), or with `capture`
 * as a `CapturedStep`. `inputs` gives the step's inputs: `kept` ones, then `fresh` ones made for
 * this call (disposed after it).
 */
function samplingStep(
  compute: (inputs: readonly tf.Tensor[]) => tf.Tensor,
  inputs: () => { kept: tf.Tensor[]; fresh?: tf.Tensor[] },
  options: WorkloadOptions,
  steps: CapturedStep[],
): () => Promise<void> {
  const step = options.capture ? new CapturedStep((xs) => [compute(xs)], { onRefused: 'throw' }) : undefined;
  if (step) steps.push(step);
  return async () => {
    const { kept, fresh = [] } = inputs();
    const given = [...kept, ...fresh];
    const [out] = step ? step.run(given) : [tf.tidy(() => compute(given))];
    tf.dispose(fresh);
    await (out as tf.Tensor).data();
    tf.dispose(out);
  };
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
  const steps: CapturedStep[] = [];
  return {
    spec: { kind: 'unet', config, params: countParams(model) },
    train: trainingStep(
      optimizer,
      variables,
      ([x, t, n]) => epsilonLoss(model.apply([x as tf.Tensor, t as tf.Tensor], { training: true }) as tf.Tensor, n as tf.Tensor),
      [xTrain, tTrain, noise],
      options,
      steps,
    ),
    infer: samplingStep(
      ([x, t]) => model.apply([x as tf.Tensor, t as tf.Tensor], { training: false }) as tf.Tensor,
      () => ({ kept: [xInfer, tInfer] }),
      options,
      steps,
    ),
    weightChecksum: () => checksum(model),
    dispose() {
      for (const step of steps) step.dispose();
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
  const steps: CapturedStep[] = [];
  return {
    spec: { kind: 'energy', config, params: countParams(model) },
    train: trainingStep(
      optimizer,
      variables,
      ([x]) => {
        const { energies } = modelEnergies(model, x as tf.Tensor, { training: true });
        const parts = contrastiveDivergenceLoss(tf.slice(energies, 0, half), tf.slice(energies, half, half), 0.1);
        tf.dispose([parts.cdLoss, parts.regularizer, parts.ePosMean, parts.eNegMean]);
        return parts.loss;
      },
      [xTrain],
      options,
      steps,
    ),
    // The noise is drawn outside the step (an input), so that a captured step can replay it.
    infer: samplingStep(
      ([x, noise]) => {
        const g = tf.clipByValue(gradient(x as tf.Tensor), -0.03, 0.03);
        return tf.clipByValue(tf.add(tf.sub(x as tf.Tensor, tf.mul(g, 10)), noise as tf.Tensor), -1, 1);
      },
      () => ({ kept: [xInfer], fresh: [rng.normal(xInfer.shape, 0, 0.005)] }),
      options,
      steps,
    ),
    weightChecksum: () => checksum(model),
    dispose() {
      for (const step of steps) step.dispose();
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
  const steps: CapturedStep[] = [];
  return {
    spec: { kind: 'classifier', config, params: countParams(model) },
    train: trainingStep(
      optimizer,
      variables,
      ([x, y]) => {
        const probabilities = model.apply(x as tf.Tensor, { training: true }) as tf.Tensor;
        return tf.neg(tf.mean(tf.sum(tf.mul(y as tf.Tensor, tf.log(tf.clipByValue(probabilities, 1e-7, 1))), -1))) as tf.Scalar;
      },
      [xTrain, labels],
      options,
      steps,
    ),
    infer: samplingStep(
      (xs) => model.apply(xs[0] as tf.Tensor, { training: false }) as tf.Tensor,
      () => ({ kept: [xInfer] }),
      options,
      steps,
    ),
    weightChecksum: () => checksum(model),
    dispose() {
      for (const step of steps) step.dispose();
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

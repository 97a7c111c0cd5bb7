import { type Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ClassLabels, inferEnergyMode, labelTensor, modelEnergies, numClassesOf } from '../energy-function.js';
import { contrastiveDivergenceLoss } from './cd-loss.js';
import { type LangevinSampler, type NegativePhaseOptions, sampleNegatives } from './negative-phase.js';
import type { ReplayBuffer } from './replay-buffer.js';

export interface EnergyTrainStepOptions {
  readonly model: tfl.LayersModel;
  readonly optimizer: tf.Optimizer;
  readonly buffer: ReplayBuffer;
  /** The data batch x⁺ [B, ...] (not disposed). */
  readonly data: tf.Tensor;
  /** Labels of `data`: required for conditional models (negatives are sampled for the same labels); JEM adds a cross-entropy term. */
  readonly labels?: ClassLabels;
  readonly rng: Rng;
  /** Negative-phase Langevin settings (defaults: `langevin`'s, i.e. 60 steps, η = 10, σ = 0.005, clip 0.03, [-1, 1]). */
  readonly langevin?: NegativePhaseOptions;
  /** Negative samples per step (default B; conditional models need B). */
  readonly negativeBatchSize?: number;
  /** Weight of the energy-magnitude regulariser (default 0.1). */
  readonly alpha?: number;
  /** Std of Gaussian noise added to the data before the loss (UvA tutorial: 0.005; default 0). */
  readonly dataNoiseStd?: number;
  /** JEM only: weight of the classification cross-entropy on labelled data (default 1). */
  readonly classificationWeight?: number;
  readonly signal?: AbortSignal;
  /** Replaces `langevin` from `@lab/samplers` (tests, custom samplers). */
  readonly sampler?: LangevinSampler;
}

/** Numbers from one step, for logging. */
export interface EnergyTrainStepResult {
  readonly loss: number;
  readonly cdLoss: number;
  readonly regularizer: number;
  readonly ePosMean: number;
  readonly eNegMean: number;
  /** JEM with labels: the cross-entropy term (unweighted). */
  readonly classificationLoss?: number;
  /** Negatives restarted from noise this step. */
  readonly reinitialized: number;
}

/**
 * One contrastive-divergence step with a replay buffer: draw starting points from `buffer`,
 * run Langevin on the current energy (inference mode), store the results back in the buffer,
 * then take one optimizer step on loss = E(x⁺) − E(x⁻) + α(E(x⁺)² + E(x⁻)²) with data and
 * negatives in one batch (one spectral-norm power iteration per step). Leaves no tensors behind
 * after the optimizer's first step has created its slots. The negative phase is `sampleNegatives`
 * and the loss `contrastiveDivergenceLoss`, the same two the trainer's EnergyTask runs in its
 * phases (prepare → loss per micro-batch or gradient shard → afterStep).
 */
export async function trainEnergyStep(options: EnergyTrainStepOptions): Promise<EnergyTrainStepResult> {
  const { model, optimizer, buffer, data, rng } = options;
  const mode = inferEnergyMode(model);
  const batch = data.shape[0];
  if (batch === undefined || batch < 1) throw new ValidationError('data must be a non-empty batch');
  const negatives = options.negativeBatchSize ?? batch;
  if (!(Number.isInteger(negatives) && negatives >= 1))
    throw new ValidationError(`negativeBatchSize must be a positive integer, got ${negatives}`);
  if (mode === 'conditional' && (options.labels === undefined || negatives !== batch)) {
    throw new ValidationError('A conditional energy model needs labels, and negativeBatchSize equal to the data batch');
  }
  const weight = options.classificationWeight ?? 1;
  const noiseStd = options.dataNoiseStd ?? 0;
  if (!(noiseStd >= 0)) throw new ValidationError(`dataNoiseStd must be ≥ 0, got ${noiseStd}`);

  const numClasses = numClassesOf(model, mode);
  const labels = options.labels === undefined ? undefined : labelTensor(options.labels, batch, numClasses);
  const ownsLabels = labels !== undefined && labels !== options.labels;
  let samples: tf.Tensor | undefined;
  try {
    // Negative phase: Langevin from the buffer, in inference mode (stored spectral-norm vectors).
    const phase = await sampleNegatives({
      model,
      buffer,
      count: negatives,
      rng,
      labels: mode === 'conditional' ? labels : undefined,
      langevin: options.langevin,
      signal: options.signal,
      sampler: options.sampler,
    });
    samples = phase.samples;
    await buffer.push(samples, phase.indices);

    // Positive and negative energies from one training-mode call.
    const negSamples = samples;
    const logs: tf.Tensor[] = [];
    const cost = optimizer.minimize(
      () => {
        const positives = noiseStd > 0 ? tf.clipByValue(tf.add(data, rng.normal(data.shape, 0, noiseStd)), -1, 1) : data;
        const x = tf.concat([positives, negSamples]);
        const classLabel = mode === 'conditional' && labels ? tf.concat([labels, labels]) : undefined;
        const { energies, logits } = modelEnergies(model, x, { mode, training: true, ...(classLabel ? { classLabel } : {}) });
        const ePos = tf.slice(energies, 0, batch);
        const eNeg = tf.slice(energies, batch, negatives);
        const parts = contrastiveDivergenceLoss(ePos, eNeg, options.alpha ?? 0.1);
        let loss: tf.Scalar = parts.loss;
        let ce: tf.Scalar = tf.scalar(Number.NaN);
        if (mode === 'jem' && labels && logits) {
          ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, numClasses), tf.slice(logits, 0, batch)) as tf.Scalar;
          loss = tf.add(loss, tf.mul(ce, weight));
        }
        logs.push(tf.keep(tf.stack([parts.cdLoss, parts.regularizer, parts.ePosMean, parts.eNegMean, ce])));
        return loss;
      },
      true,
      model.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    const lossValue = cost ? (await cost.data())[0] : Number.NaN;
    cost?.dispose();
    const values = logs[0] ? await logs[0].data() : new Float32Array(5).fill(Number.NaN);
    tf.dispose(logs);
    const [cdLoss, regularizer, ePosMean, eNegMean, ce] = Array.from(values) as [number, number, number, number, number];
    return {
      loss: lossValue ?? Number.NaN,
      cdLoss,
      regularizer,
      ePosMean,
      eNegMean,
      ...(Number.isNaN(ce) ? {} : { classificationLoss: ce }),
      reinitialized: phase.reinitialized,
    };
  } finally {
    samples?.dispose();
    if (ownsLabels) labels?.dispose();
  }
}

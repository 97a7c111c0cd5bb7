import { type Rng, ValidationError } from '@lab/core';
import {
  type ContrastiveEnergyConfig,
  type ContrastiveEnergyConfigOptions,
  contrastiveDivergenceLoss,
  createEnergyNet,
  modelEnergies,
  parseContrastiveEnergyConfig,
  ReplayBuffer,
  resolveContrastiveEnergyConfig,
  sampleContrastiveEnergy,
  sampleNegatives,
} from '@lab/energy';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, SampleOptions, TaskState, TrainingTask } from './types.js';

/** A contrastive-divergence run's settings: the model config of @lab/energy (defaults: `CONTRASTIVE_ENERGY_DEFAULTS`). */
export type EnergyTaskOptions = ContrastiveEnergyConfigOptions;

/**
 * Energy-based model trained by contrastive divergence with a replay buffer of persistent
 * Langevin chains (Du & Mordatch 2019): negatives start from the buffer (or fresh noise), run
 * Langevin on the current energy, and go back into the buffer after the step. The negative phase
 * is @lab/energy's `sampleNegatives` and the loss its `contrastiveDivergenceLoss`, as in
 * `trainEnergyStep`; this task splits the step into the Trainer's phases instead.
 */
export class EnergyTask implements TrainingTask {
  readonly kind = 'energy' as const;
  /** The `ContrastiveEnergyConfig` stored in run.json and in the checkpoint manifest. */
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  private readonly settings: ContrastiveEnergyConfig;
  private buffer: ReplayBuffer;

  constructor(options: EnergyTaskOptions = {}) {
    this.settings = resolveContrastiveEnergyConfig(options);
    this.buffer = new ReplayBuffer({ sampleShape: [...this.settings.net.inputShape], ...this.settings.replay });
    this.config = { ...this.settings };
  }

  /** Rebuilds the task from the `config` stored in a run (a ValidationError names a bad field). */
  static fromConfig(config: Record<string, unknown>): EnergyTask {
    return new EnergyTask(parseContrastiveEnergyConfig(config));
  }

  get replayBuffer(): ReplayBuffer {
    return this.buffer;
  }

  createModel(): tfl.LayersModel {
    return createEnergyNet(this.settings.net);
  }

  async prepare(model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const { samples, indices } = await sampleNegatives({
      model,
      buffer: this.buffer,
      count: batch.images.shape[0],
      rng,
      langevin: { ...this.settings.langevin, clampRange: [-1, 1] },
    });
    const noise = rng.normal(batch.images.shape, 0, this.settings.dataNoise);
    const positive = tf.tidy(() => tf.clipByValue(tf.add(batch.images, noise), -1, 1));
    noise.dispose();
    return { positive, negative: samples, slots: tf.tensor1d(indices, 'int32') };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const positive = inputs.positive as tf.Tensor;
    const negative = inputs.negative as tf.Tensor;
    const count = positive.shape[0] as number;
    // Data and negatives in one training-mode call, as `trainEnergyStep` makes it: one pass of the
    // net's kernels at twice the batch instead of two (and one spectral-norm power iteration).
    const { energies } = modelEnergies(model, tf.concat([positive, negative]), { training: true });
    const parts = contrastiveDivergenceLoss(
      tf.slice(energies, 0, count),
      tf.slice(energies, count, negative.shape[0] as number),
      this.settings.alpha,
    );
    return { loss: parts.loss, metrics: { ePos: parts.ePosMean, eNeg: parts.eNegMean, regularizer: parts.regularizer } };
  }

  async afterStep(prepared: PreparedBatch): Promise<void> {
    const negatives = (await (prepared.negative as tf.Tensor).data()) as Float32Array;
    const slots = await (prepared.slots as tf.Tensor).data();
    this.buffer.pushRows(negatives, slots);
  }

  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    return (await sampleContrastiveEnergy(model, this.settings, {
      count: n,
      rng,
      ...(options.steps === undefined ? {} : { steps: options.steps }),
      ...(options.guidance === undefined ? {} : { guidance: options.guidance }),
      ...(options.signal ? { signal: options.signal } : {}),
    })) as tf.Tensor4D;
  }

  saveState(): TaskState {
    const { meta, data } = this.buffer.serialize();
    const tensors = meta.size > 0 ? { replay_buffer: tf.tensor(data, [meta.size, ...meta.sampleShape], 'float32') } : undefined;
    return { json: { replayBuffer: meta }, ...(tensors ? { tensors } : {}) };
  }

  async restoreState(state: TaskState): Promise<void> {
    const meta = state.json?.replayBuffer as Parameters<typeof ReplayBuffer.deserialize>[0]['meta'] | undefined;
    if (!meta) throw new ValidationError('the checkpoint has no replay buffer');
    const tensor = state.tensors?.replay_buffer;
    const data = tensor ? ((await tensor.data()) as Float32Array) : new Float32Array(0);
    this.buffer = ReplayBuffer.deserialize({ meta, data });
  }
}

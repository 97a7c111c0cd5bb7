import { type Rng, ValidationError } from '@lab/core';
import {
  contrastiveDivergenceLoss,
  createEnergyNet,
  type EnergyNetConfig,
  energyFunction,
  ReplayBuffer,
  resolveEnergyNetConfig,
} from '@lab/energy';
import { LANGEVIN_DEFAULTS, langevin } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, SampleOptions, TaskState, TrainingTask } from './types.js';

export interface LangevinSettings {
  steps: number;
  stepSize: number;
  noiseStd: number;
  gradClip: number;
}

export interface EnergyTaskOptions {
  /** An energy-net preset (`small`, `resnet`) or overrides (default `small`). */
  net?: 'small' | 'resnet' | Partial<EnergyNetConfig>;
  /** Weight of the energy-magnitude regulariser (default 0.1). */
  alpha?: number;
  /** Std of the Gaussian noise added to real images (default 0.005, as in the UvA tutorial). */
  dataNoise?: number;
  /** Langevin settings for the training negatives (defaults: `LANGEVIN_DEFAULTS` of @lab/samplers). */
  langevin?: Partial<LangevinSettings>;
  /** Langevin steps from uniform noise for preview grids and evaluation (default 256). */
  sampleSteps?: number;
  replay?: { capacity?: number; reinitProbability?: number };
}

/**
 * Energy-based model trained by contrastive divergence with a replay buffer of persistent
 * Langevin chains (Du & Mordatch 2019): negatives start from the buffer (or fresh noise), run
 * Langevin on the current energy, and go back into the buffer after the step.
 */
export class EnergyTask implements TrainingTask {
  readonly kind = 'energy' as const;
  readonly config: Record<string, unknown>;
  readonly augmentation = { flip: true };
  private readonly net: EnergyNetConfig;
  private readonly alpha: number;
  private readonly dataNoise: number;
  private readonly langevinSettings: LangevinSettings;
  private readonly sampleSteps: number;
  private buffer: ReplayBuffer;

  constructor(options: EnergyTaskOptions = {}) {
    this.net = resolveEnergyNetConfig(options.net ?? 'small');
    if (this.net.mode === 'conditional')
      throw new ValidationError('the trainer trains unconditional (energy) or jem energy nets, not conditional ones');
    this.alpha = options.alpha ?? 0.1;
    this.dataNoise = options.dataNoise ?? 0.005;
    const { steps, stepSize, noiseStd, gradClip } = LANGEVIN_DEFAULTS;
    this.langevinSettings = { steps, stepSize, noiseStd, gradClip, ...options.langevin };
    this.sampleSteps = options.sampleSteps ?? 256;
    const replay = { capacity: options.replay?.capacity ?? 8192, reinitProbability: options.replay?.reinitProbability ?? 0.05 };
    this.buffer = new ReplayBuffer({ sampleShape: [...this.net.inputShape], ...replay });
    this.config = {
      net: this.net,
      alpha: this.alpha,
      dataNoise: this.dataNoise,
      langevin: this.langevinSettings,
      sampleSteps: this.sampleSteps,
      replay,
    };
  }

  static fromConfig(config: Record<string, unknown>): EnergyTask {
    return new EnergyTask(config as EnergyTaskOptions);
  }

  get replayBuffer(): ReplayBuffer {
    return this.buffer;
  }

  createModel(): tfl.LayersModel {
    return createEnergyNet(this.net);
  }

  async prepare(model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const size = batch.images.shape[0];
    const drawn = this.buffer.sampleWithIndices(size, rng);
    const { samples } = await langevin(energyFunction(model), drawn.samples, { ...this.langevinSettings, clampRange: [-1, 1], rng });
    drawn.samples.dispose();
    const noise = rng.normal(batch.images.shape, 0, this.dataNoise);
    const positive = tf.tidy(() => tf.clipByValue(tf.add(batch.images, noise), -1, 1));
    noise.dispose();
    return { positive, negative: samples, slots: tf.tensor1d(drawn.indices, 'int32') };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const energies = energyFunction(model, { training: true });
    const parts = contrastiveDivergenceLoss(energies(inputs.positive as tf.Tensor), energies(inputs.negative as tf.Tensor), this.alpha);
    return { loss: parts.loss, metrics: { ePos: parts.ePosMean, eNeg: parts.eNegMean, regularizer: parts.regularizer } };
  }

  async afterStep(prepared: PreparedBatch): Promise<void> {
    const negatives = (await (prepared.negative as tf.Tensor).data()) as Float32Array;
    const slots = await (prepared.slots as tf.Tensor).data();
    this.buffer.pushRows(negatives, slots);
  }

  async sample(model: tfl.LayersModel, n: number, rng: Rng, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    if ((options.guidance ?? 1) !== 1) throw new ValidationError('guidance needs a class-conditional diffusion run, not an energy run');
    const start = rng.uniform([n, ...this.net.inputShape], -1, 1);
    const { samples } = await langevin(energyFunction(model), start, {
      ...this.langevinSettings,
      steps: options.steps ?? this.sampleSteps,
      clampRange: [-1, 1],
      rng,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    start.dispose();
    return samples as tf.Tensor4D;
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

import { adam, type BackendName, parseBackendName, Rng, type RngState, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type BatchCursor, CifarBatches } from '../data/batches.js';
import type { CifarRecords } from '../data/cifar10-format.js';
import type { PreparedBatch, TaskState, TrainingTask } from '../tasks/types.js';
import { EmaModel } from './ema.js';
import { type AccumulatedGradients, accumulateGradients, clipByGlobalNorm, globalNorm } from './gradients.js';
import { type LearningRateDecay, learningRateAt } from './learning-rate.js';
import { sliceMicroBatches } from './micro-batches.js';
import { dataParallelGradients } from './parallel/data-parallel.js';
import { movingAverageMomenta } from './parallel/moving-statistics.js';
import { GradientWorkerPool } from './parallel/pool.js';
import { decayKernels } from './weight-decay.js';

/** Optimisation settings of a run (stored in it, so a resume uses the same ones). */
export interface OptimizationConfig {
  readonly batchSize: number;
  /** Samples per forward/backward pass; gradients of the micro-batches are accumulated. Default: the batch size. */
  readonly microBatch?: number;
  readonly lr: number;
  /** Linear learning-rate warm-up steps (default 0). */
  readonly warmupSteps?: number;
  /** Annealing of the learning rate towards the end of the run (default: none, a constant rate). */
  readonly lrDecay?: LearningRateDecay;
  /** Global gradient-norm clip (default none). */
  readonly gradClipNorm?: number | null;
  readonly emaDecay: number;
  /** Ramp the EMA decay up as min(decay, (1+n)/(10+n)) (default true). */
  readonly emaWarmup?: boolean;
  readonly beta1?: number;
  readonly beta2?: number;
  /** Decoupled weight decay of the kernels, per unit of learning rate (AdamW; default 0, none). */
  readonly weightDecay?: number;
}

/** How a trainer computes, not what (not stored in the run: a resume may change it). */
export interface TrainerRuntime {
  /**
   * Gradient worker threads (default 0): each step's batch is split into workers + 1 shards whose
   * gradients are computed in parallel and combined (the same gradient up to float rounding).
   */
  readonly workers?: number;
  /** The backend the workers initialise (default: the active tfjs backend). */
  readonly backend?: BackendName;
  /** The gradient worker script (tests). */
  readonly workerFile?: URL | string;
}

/** Everything beyond the weights that a resumed run needs to continue exactly. */
export interface TrainerProgress {
  readonly step: number;
  readonly seed: number;
  readonly rng: RngState;
  readonly cursor: BatchCursor;
}

/** What one optimiser step measured (plain numbers, read back after the step). */
export interface StepResult {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  readonly images: number;
  readonly metrics: Record<string, number>;
}

/** The parts of a checkpoint the trainer writes and reads (see checkpoint-io). */
export interface TrainerSnapshot {
  readonly models: { model: tfl.LayersModel; ema: tfl.LayersModel };
  readonly tensors: Record<string, tf.Tensor>;
  readonly json: { trainer: TrainerProgress & { optimizerWeights: string[] }; task?: Record<string, unknown> };
}

const OPTIMIZER_PREFIX = 'optimizer_';

/**
 * The training loop's state machine: one `step()` draws a batch, lets the task prepare it,
 * accumulates gradients over micro-batches, clips them, applies Adam, updates the EMA and lets
 * the task store its chains. All randomness comes from one seeded Rng whose state is saved, and
 * the data order from the batch cursor, so a restored trainer continues exactly.
 */
export class Trainer {
  readonly model: tfl.LayersModel;
  readonly ema: EmaModel;
  readonly optimizer: tf.AdamOptimizer;
  /** The model's trainable variables (fixed for its life: restores assign into them). */
  private readonly variables: readonly tf.Variable[];
  private rng: Rng;
  private batches: CifarBatches;
  private stepCount = 0;
  private seed: number;
  private readonly workerPool: GradientWorkerPool | undefined;
  /** Momenta of the model's batch-norm statistics, which the workers' shards move too. */
  private readonly momenta: readonly number[];

  constructor(
    readonly task: TrainingTask,
    readonly data: CifarRecords,
    readonly optimization: OptimizationConfig,
    seed: number,
    runtime: TrainerRuntime = {},
  ) {
    this.seed = seed;
    const { batchSize, microBatch, lr, emaDecay } = optimization;
    if (!(Number.isInteger(batchSize) && batchSize >= 1))
      throw new ValidationError(`batch size must be a positive integer, got ${batchSize}`);
    if (microBatch !== undefined && !(Number.isInteger(microBatch) && microBatch >= 1)) {
      throw new ValidationError(`micro-batch must be a positive integer, got ${microBatch}`);
    }
    if (!(lr > 0)) throw new ValidationError(`learning rate must be > 0, got ${lr}`);
    const weightDecay = optimization.weightDecay ?? 0;
    if (!(weightDecay >= 0 && lr * weightDecay < 1))
      throw new ValidationError(`weight decay must be ≥ 0 and below 1 / learning rate, got ${weightDecay}`);
    const workers = runtime.workers ?? 0;
    if (!(Number.isInteger(workers) && workers >= 0)) throw new ValidationError(`workers must be a non-negative integer, got ${workers}`);
    const workerBackend = runtime.backend ?? parseBackendName(tf.getBackend());
    // Workers spread a step over CPU cores for the single-threaded backends; a GPU, LibTorch and
    // libtensorflow (multi-threaded: every core already) gain nothing from them, and webgpu
    // cannot read tensors synchronously as the shard exchange does.
    if (workers > 0 && workerBackend === 'torch') {
      throw new ValidationError(
        '--workers is unnecessary on torch: LibTorch already computes each step on every core (set their number with GENLAB_TORCH_THREADS); drop --workers',
      );
    }
    if (workers > 0 && workerBackend !== 'wasm' && workerBackend !== 'cpu') {
      throw new ValidationError(
        `--workers is for the wasm and cpu backends (one core each); the run uses ${workerBackend}: drop --workers`,
      );
    }
    this.model = task.createModel();
    this.variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    try {
      this.momenta = workers > 0 ? movingAverageMomenta(this.model) : [];
    } catch (error) {
      this.model.dispose();
      throw error;
    }
    this.ema = new EmaModel(this.model, task.createModel(), emaDecay, optimization.emaWarmup ?? true);
    this.ema.reset();
    this.optimizer = adam(lr, optimization.beta1 ?? 0.9, optimization.beta2 ?? 0.999);
    this.rng = new Rng(seed);
    this.batches = new CifarBatches(data, seed);
    this.workerPool =
      workers > 0
        ? new GradientWorkerPool({
            size: workers,
            kind: task.kind,
            config: task.config,
            backend: workerBackend,
            ...(runtime.workerFile ? { workerFile: runtime.workerFile } : {}),
          })
        : undefined;
  }

  /** Gradient worker threads (0: every step runs on this thread). */
  get workers(): number {
    return this.workerPool?.size ?? 0;
  }

  get step(): number {
    return this.stepCount;
  }

  get progress(): TrainerProgress {
    return { step: this.stepCount, seed: this.seed, rng: this.rng.getState(), cursor: this.batches.cursor };
  }

  /** One optimiser step. */
  async trainStep(): Promise<StepResult> {
    const { batchSize, microBatch, gradClipNorm = null } = this.optimization;
    const lr = learningRateAt(this.stepCount, this.optimization);
    // Adam reads its learning rate on every applyGradients call; this is how warm-up is applied.
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;

    const batch = this.batches.next(batchSize, this.rng, this.task.augmentation);
    let prepared: Record<string, tf.Tensor>;
    try {
      prepared = await this.task.prepare(this.model, batch, this.rng, this.stepCount);
    } finally {
      tf.dispose([batch.images, batch.labels]);
    }
    try {
      const accumulated = await this.gradients(prepared, batchSize, microBatch);
      let grads = accumulated.grads;
      let norm: tf.Scalar;
      if (gradClipNorm !== null && gradClipNorm !== undefined) {
        const clipped = clipByGlobalNorm(grads, gradClipNorm);
        tf.dispose(Object.values(grads));
        grads = clipped.grads;
        norm = clipped.norm;
      } else {
        norm = globalNorm(Object.values(grads));
      }
      decayKernels(this.variables, lr * (this.optimization.weightDecay ?? 0));
      this.optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose(Object.values(grads));
      this.ema.update(this.stepCount);
      await this.task.afterStep?.(prepared);
      const metricNames = Object.keys(accumulated.metrics);
      const values = await Promise.all([accumulated.loss.data(), norm.data(), ...metricNames.map((k) => accumulated.metrics[k]?.data())]);
      tf.dispose([accumulated.loss, norm, ...Object.values(accumulated.metrics)]);
      this.stepCount += 1;
      return {
        step: this.stepCount,
        loss: values[0]?.[0] as number,
        gradNorm: values[1]?.[0] as number,
        lr,
        images: batchSize,
        metrics: Object.fromEntries(metricNames.map((k, i) => [k, values[i + 2]?.[0] as number])),
      };
    } finally {
      tf.dispose(Object.values(prepared));
    }
  }

  /** Gradients of the batch's mean loss: on this thread, or sharded over the worker pool. */
  private async gradients(prepared: PreparedBatch, batchSize: number, microBatch: number | undefined): Promise<AccumulatedGradients> {
    const loss = (slice: PreparedBatch) => this.task.loss(this.model, slice);
    if (this.workerPool) {
      return dataParallelGradients({ pool: this.workerPool, model: this.model, momenta: this.momenta, prepared, microBatch, loss });
    }
    return accumulateGradients(this.variables, sliceMicroBatches(prepared, [0, batchSize], microBatch, loss));
  }

  /**
   * The state to checkpoint: the trained and EMA models (live, not copies), Adam's iteration
   * count and moments, the task's state, and the progress. Tensors in `tensors` are new: the
   * caller disposes them after saving.
   */
  async snapshot(): Promise<TrainerSnapshot> {
    const optimizerWeights = await this.optimizer.getWeights();
    const tensors: Record<string, tf.Tensor> = {};
    const names: string[] = [];
    optimizerWeights.forEach((w, i) => {
      tensors[`${OPTIMIZER_PREFIX}${String(i).padStart(4, '0')}`] = w.tensor.clone();
      names.push(w.name);
    });
    const taskState = this.task.saveState?.();
    for (const [k, t] of Object.entries(taskState?.tensors ?? {})) tensors[`task_${k}`] = t;
    return {
      models: { model: this.model, ema: this.ema.model },
      tensors,
      json: { trainer: { ...this.progress, optimizerWeights: names }, ...(taskState?.json ? { task: taskState.json } : {}) },
    };
  }

  /** Restores a snapshot (weights are copied; the caller disposes what it loaded). */
  async restore(snapshot: {
    models: Record<string, tfl.LayersModel>;
    tensors: Record<string, tf.Tensor>;
    json: Record<string, unknown>;
  }): Promise<void> {
    const { model, ema } = snapshot.models;
    if (!model || !ema) throw new ValidationError('the checkpoint lacks the `model` or `ema` weights');
    copyWeights(model, this.model);
    copyWeights(ema, this.ema.model);
    const progress = snapshot.json.trainer as (TrainerProgress & { optimizerWeights: string[] }) | undefined;
    if (!progress) throw new ValidationError('the checkpoint has no trainer progress');
    const optimizerWeights = progress.optimizerWeights.map((name, i) => {
      const tensor = snapshot.tensors[`${OPTIMIZER_PREFIX}${String(i).padStart(4, '0')}`];
      if (!tensor) throw new ValidationError(`the checkpoint lacks optimizer weight ${i} (${name})`);
      return { name, tensor };
    });
    await this.optimizer.setWeights(optimizerWeights);
    const taskTensors: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(snapshot.tensors)) if (k.startsWith('task_')) taskTensors[k.slice(5)] = t;
    const taskState: TaskState = { tensors: taskTensors, json: (snapshot.json.task as Record<string, unknown> | undefined) ?? {} };
    await this.task.restoreState?.(taskState);
    this.stepCount = progress.step;
    this.seed = progress.seed;
    this.rng = Rng.fromState(progress.rng);
    this.batches = new CifarBatches(this.data, progress.seed, progress.cursor);
  }

  /**
   * Starts from trained weights (`train --init-from`): both the model and its EMA take them; Adam
   * and the step count start afresh.
   */
  initializeWeights(from: tfl.LayersModel): void {
    copyWeights(from, this.model);
    copyWeights(from, this.ema.model);
  }

  dispose(): void {
    this.workerPool?.dispose();
    this.optimizer.dispose();
    this.model.dispose();
    this.ema.model.dispose();
  }
}

function copyWeights(from: tfl.LayersModel, to: tfl.LayersModel): void {
  if (from.weights.length !== to.weights.length) {
    throw new ValidationError(`checkpoint model has ${from.weights.length} weights, this architecture ${to.weights.length}`);
  }
  from.weights.forEach((w, i) => {
    const target = to.weights[i];
    const shape = w.shape;
    if (!target || target.shape.length !== shape.length || target.shape.some((d, k) => d !== shape[k])) {
      throw new ValidationError(`checkpoint weight ${w.name} [${shape}] does not fit ${target?.name} [${target?.shape}]`);
    }
  });
  to.setWeights(from.getWeights());
}

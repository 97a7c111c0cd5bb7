import { initBackend, Rng, silentLogger } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CifarBatches } from '../src/data/batches.js';
import { parseCifarBatch } from '../src/data/cifar10-format.js';
import { ClassifierTask } from '../src/tasks/classifier.js';
import { DiffusionTask } from '../src/tasks/diffusion.js';
import type { PreparedBatch, TrainingTask } from '../src/tasks/types.js';
import { accumulateGradients } from '../src/train/gradients.js';
import { sliceMicroBatches } from '../src/train/micro-batches.js';
import { dataParallelGradients } from '../src/train/parallel/data-parallel.js';
import { GradientWorkerPool } from '../src/train/parallel/pool.js';
import { shardRanges } from '../src/train/parallel/shards.js';
import { type OptimizationConfig, Trainer } from '../src/train/trainer.js';
import { MICRO_DIFFUSION, makeCifarBytes, maxAbsDiff, weightsOf } from './fixtures.js';

beforeAll(async () => {
  await initBackend({ force: 'cpu', logger: silentLogger });
});

const records = parseCifarBatch(makeCifarBytes(48), 'fixture.bin');
const microClassifier = {
  net: { inputShape: [32, 32, 3], numClasses: 10, channels: [4], featureUnits: 6, dropout: 0, output: 'softmax', seed: 1 },
};

/** Rejects after `ms` so a hanging worker fails the test with a message instead of the suite's timeout. */
function withinSeconds<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** max |a − b| / max |a| over every gradient; also returns max |a| so a test can check it is not 0. */
async function relativeGradientDiff(a: tf.NamedTensorMap, b: tf.NamedTensorMap): Promise<{ diff: number; scale: number }> {
  let diff = 0;
  let scale = 0;
  for (const [name, tensor] of Object.entries(a)) {
    const x = await tensor.data();
    const y = await (b[name] as tf.Tensor).data();
    x.forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      diff = Math.max(diff, Math.abs(v - (y[i] as number)));
    });
  }
  return { diff: diff / scale, scale };
}

function optimization(batchSize: number, microBatch: number): OptimizationConfig {
  return { batchSize, microBatch, lr: 1e-3, warmupSteps: 0, gradClipNorm: 1, emaDecay: 0.9 };
}

describe('shardRanges', () => {
  it('splits a batch into contiguous shards whose sizes differ by at most one, dropping empty ones', () => {
    expect(shardRanges(6, 3)).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
    expect(shardRanges(5, 3)).toEqual([
      [0, 2],
      [2, 4],
      [4, 5],
    ]);
    expect(shardRanges(7, 2)).toEqual([
      [0, 4],
      [4, 7],
    ]);
    expect(shardRanges(2, 3)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(shardRanges(4, 1)).toEqual([[0, 4]]);
  });
});

describe('data-parallel gradients (diffusion, 2 workers)', () => {
  const task = DiffusionTask.fromConfig(MICRO_DIFFUSION);
  const model = task.createModel();
  const pool = new GradientWorkerPool({ size: 2, kind: task.kind, config: task.config, backend: 'cpu' });
  afterAll(() => {
    pool.dispose();
    model.dispose();
  });

  async function preparedBatch(size: number): Promise<PreparedBatch> {
    const rng = new Rng(size);
    const batch = new CifarBatches(records, size).next(size, rng, task.augmentation);
    try {
      return await task.prepare(model, batch, rng);
    } finally {
      tf.dispose([batch.images, batch.labels]);
    }
  }

  // 6/2: three equal shards; 5/2: shards of 2, 2 and 1; 2: the second worker has nothing to do.
  it.each([
    [6, 2],
    [5, 2],
    [2, undefined],
  ])('batch %i, micro-batch %s: the same gradient, loss as on one thread', async (size, microBatch) => {
    const prepared = await preparedBatch(size);
    const loss = (slice: PreparedBatch) => task.loss(model, slice);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const serial = accumulateGradients(variables, sliceMicroBatches(prepared, [0, size], microBatch, loss));
    const parallel = await withinSeconds(dataParallelGradients({ pool, model, momenta: [], prepared, microBatch, loss }), 60);
    const { diff, scale } = await relativeGradientDiff(serial.grads, parallel.grads);
    expect(scale).toBeGreaterThan(1e-3);
    expect(diff).toBeLessThan(1e-5);
    expect(Object.keys(parallel.grads)).toEqual(Object.keys(serial.grads));
    const [a, b] = [(await serial.loss.data())[0] as number, (await parallel.loss.data())[0] as number];
    expect(Math.abs(a - b) / a).toBeLessThan(1e-5);
    for (const result of [serial, parallel]) tf.dispose([result.loss, ...Object.values(result.grads), ...Object.values(result.metrics)]);
    tf.dispose(Object.values(prepared));
  });
});

/** Steps a 0-worker and a 2-worker trainer built alike and expects the same losses, norms, metrics and weights. */
async function expectSameSteps(makeTask: () => TrainingTask, batchSize: number, microBatch: number, steps: number): Promise<Trainer> {
  const serial = new Trainer(makeTask(), records, optimization(batchSize, microBatch), 7);
  const parallel = new Trainer(makeTask(), records, optimization(batchSize, microBatch), 7, { workers: 2 });
  try {
    for (let i = 0; i < steps; i++) {
      const a = await serial.trainStep();
      const b = await withinSeconds(parallel.trainStep(), 60);
      expect(b.images).toBe(a.images);
      expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-5);
      expect(Math.abs(b.gradNorm - a.gradNorm) / a.gradNorm).toBeLessThan(1e-5);
      for (const [name, value] of Object.entries(a.metrics)) expect(b.metrics[name]).toBeCloseTo(value, 5);
      expect(maxAbsDiff(await weightsOf(serial.model), await weightsOf(parallel.model))).toBeLessThan(1e-5);
      expect(maxAbsDiff(await weightsOf(serial.ema.model), await weightsOf(parallel.ema.model))).toBeLessThan(1e-5);
    }
    return parallel;
  } catch (error) {
    parallel.dispose();
    throw error;
  } finally {
    serial.dispose();
  }
}

describe('a trainer with --workers 2', () => {
  it('diffusion: a step equals the step on one thread', async () => {
    const parallel = await expectSameSteps(() => DiffusionTask.fromConfig(MICRO_DIFFUSION), 6, 2, 1);
    expect(parallel.workers).toBe(2);
    parallel.dispose();
  });

  it('classifier (batch norm): the same 2 steps, moving statistics merged in batch order; tensors stay flat over 3 steps', async () => {
    const parallel = await expectSameSteps(() => ClassifierTask.fromConfig(microClassifier), 6, 2, 2);
    try {
      // Adam's moments exist from the first step on: the count must not grow after it.
      const counts = [tf.memory().numTensors];
      for (let i = 0; i < 2; i++) {
        await withinSeconds(parallel.trainStep(), 60);
        counts.push(tf.memory().numTensors);
      }
      expect(counts).toEqual([counts[0], counts[0], counts[0]]);
    } finally {
      parallel.dispose();
    }
  });
});

describe('gradient worker failures', () => {
  it.each(['webgpu', 'tensorflow-gpu', 'tensorflow'] as const)('refuses workers on %s, before building anything', (backend) => {
    const before = tf.memory().numTensors;
    expect(() => new Trainer(DiffusionTask.fromConfig(MICRO_DIFFUSION), records, optimization(4, 2), 7, { workers: 1, backend })).toThrow(
      /--workers is for the wasm and cpu backends/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses workers on torch, saying why they are unnecessary', () => {
    expect(
      () => new Trainer(DiffusionTask.fromConfig(MICRO_DIFFUSION), records, optimization(4, 2), 7, { workers: 1, backend: 'torch' }),
    ).toThrow(/--workers is unnecessary on torch: LibTorch already computes each step on every core .*GENLAB_TORCH_THREADS/);
  });

  it('a worker that cannot build its replica rejects the shard with its own message', async () => {
    const config = { unet: { preset: 'no-such-preset' }, schedule: { kind: 'linear', timesteps: 10 } };
    const pool = new GradientWorkerPool({ size: 1, kind: 'diffusion', config, backend: 'cpu' });
    try {
      await expect(withinSeconds(pool.computeShard(0, { weights: [], inputs: {}, microBatch: undefined }), 60)).rejects.toThrow(
        /gradient worker 1 failed: diffusion config: unet: unknown UNet preset 'no-such-preset'/,
      );
    } finally {
      pool.dispose();
    }
  });

  it('a worker that dies mid-step fails that step and every later one, without leaking tensors', async () => {
    const workerFile = new URL('./exiting-gradient-worker.mjs', import.meta.url);
    const trainer = new Trainer(DiffusionTask.fromConfig(MICRO_DIFFUSION), records, optimization(4, 2), 7, { workers: 1, workerFile });
    try {
      const before = tf.memory().numTensors;
      await expect(withinSeconds(trainer.trainStep(), 60)).rejects.toThrow(/gradient worker 1 exited unexpectedly \(exit code 7\)/);
      expect(tf.memory().numTensors).toBe(before);
      await expect(withinSeconds(trainer.trainStep(), 10)).rejects.toThrow(/gradient worker 1 exited unexpectedly/);
      expect(trainer.step).toBe(0);
    } finally {
      trainer.dispose();
    }
  });

  it('rejects a negative or fractional worker count', () => {
    const task = DiffusionTask.fromConfig(MICRO_DIFFUSION);
    expect(() => new Trainer(task, records, optimization(4, 2), 7, { workers: -1 })).toThrow(/workers must be a non-negative integer/);
    expect(() => new Trainer(task, records, optimization(4, 2), 7, { workers: 1.5 })).toThrow(/workers must be a non-negative integer/);
  });
});

/// <reference lib="dom" />
/**
 * Runs in Chromium (bundled by core's test/helpers/chromium-webgpu.ts): genlab's Trainer on tfjs's
 * WebGPU backend with genlab's kernels, driven from Node through `window.genlab`.
 */
import { registerTrainingKernels } from '@lab/core';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { taskFromConfig } from '../src/tasks/index.js';
import type { ModelKind } from '../src/tasks/types.js';
import { type OptimizationConfig, type StepResult, Trainer } from '../src/train/trainer.js';

export interface TrainStepsInputs {
  kind: ModelKind;
  config: Record<string, unknown>;
  optimization: OptimizationConfig;
  seed: number;
  /** CIFAR-10 records (`CifarRecords`, its byte arrays as plain arrays to cross as JSON). */
  records: { pixels: number[]; labels: number[]; count: number };
  /** The initial weights, in `model.getWeights()` order (the EMA starts from them too). */
  weights: number[][];
  steps: number;
}

export interface TrainStepsOutputs {
  results: StepResult[];
  weights: number[][];
  emaWeights: number[][];
  /** tf.memory().numTensors after each step. */
  numTensors: number[];
}

export type TrainerWebgpuPage = {
  init(): Promise<{ backend: string; kernels: readonly string[] }>;
  train(inputs: TrainStepsInputs): Promise<TrainStepsOutputs>;
};

async function readWeights(model: { getWeights(): tf.Tensor[] }): Promise<number[][]> {
  // WebGPU cannot read synchronously: data(), never dataSync().
  return Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())));
}

const page: TrainerWebgpuPage = {
  async init() {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    return { backend: tf.getBackend(), kernels: registerTrainingKernels('webgpu').kernels };
  },
  async train(inputs) {
    const { pixels, labels, count } = inputs.records;
    const records = { pixels: Uint8Array.from(pixels), labels: Uint8Array.from(labels), count };
    const trainer = new Trainer(taskFromConfig(inputs.kind, inputs.config), records, inputs.optimization, inputs.seed);
    try {
      const initial = trainer.model.getWeights().map((w, i) => tf.tensor(inputs.weights[i] as number[], w.shape));
      trainer.model.setWeights(initial); // copies into the model's variables
      tf.dispose(initial);
      trainer.ema.reset();
      const results: StepResult[] = [];
      const numTensors: number[] = [];
      for (let i = 0; i < inputs.steps; i++) {
        results.push(await trainer.trainStep());
        numTensors.push(tf.memory().numTensors);
      }
      return { results, weights: await readWeights(trainer.model), emaWeights: await readWeights(trainer.ema.model), numTensors };
    } finally {
      trainer.dispose();
    }
  },
};

(window as unknown as { genlab: TrainerWebgpuPage }).genlab = page;

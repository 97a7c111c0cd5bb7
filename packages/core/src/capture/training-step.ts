import type * as tf from '@tensorflow/tfjs-core';
import { CapturedStep, type CaptureStepOptions } from './step-capture.js';

export interface CaptureTrainingStepOptions extends Pick<CaptureStepOptions, 'warmupCalls' | 'onRefused'> {
  /** The variables to train (default: every trainable variable the loss reads, as `optimizer.minimize` picks them). */
  readonly variables?: tf.Variable[];
}

/**
 * `optimizer.minimize(() => loss(inputs), true, variables)` as a `CapturedStep` whose one result is
 * the loss. A replay also counts the optimizer's iteration (what its `applyGradients` does in
 * JavaScript), and a change to the optimizer's hyperparameters (a learning-rate schedule) makes it
 * record the step again. The loss must not read tensor values or draw random numbers: pass data,
 * noise and timesteps in as inputs.
 */
export function captureTrainingStep(
  optimizer: tf.Optimizer,
  loss: (inputs: readonly tf.Tensor[]) => tf.Scalar,
  options: CaptureTrainingStepOptions = {},
): CapturedStep {
  // tfjs declares it protected; applyGradients calls it once per step.
  const counted = optimizer as unknown as { incrementIterations(): void };
  return new CapturedStep(
    (inputs) => {
      const cost = optimizer.minimize(() => loss(inputs), true, options.variables);
      if (!cost) throw new Error('optimizer.minimize returned no loss');
      return [cost];
    },
    {
      ...(options.warmupCalls !== undefined ? { warmupCalls: options.warmupCalls } : {}),
      ...(options.onRefused !== undefined ? { onRefused: options.onRefused } : {}),
      afterReplay: () => counted.incrementIterations(),
      dependsOn: () => Object.values(optimizer.getConfig()),
    },
  );
}

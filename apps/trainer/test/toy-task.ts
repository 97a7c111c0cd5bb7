import type { Rng } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { DataBatch, PreparedBatch, TaskState, TrainingTask } from '../src/tasks/types.js';

/**
 * A tiny denoising task for trainer tests: a 3×3 conv net on 8×8 crops predicts the Gaussian
 * noise added to the image (the diffusion objective without a schedule). Weights are seeded so
 * two instances start equal. It counts steps in its state to exercise task-state checkpoints.
 */
export class ToyDenoiseTask implements TrainingTask {
  readonly kind = 'diffusion' as const;
  readonly config = { toy: true };
  readonly augmentation = { flip: true };
  stepsSeen = 0;

  createModel(): tfl.LayersModel {
    const x = tfl.input({ shape: [8, 8, 3] });
    const h = tfl.layers
      .conv2d({
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'tanh',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      })
      .apply(x) as tfl.SymbolicTensor;
    const y = tfl.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
      .apply(h);
    return tfl.model({ inputs: x, outputs: y as tfl.SymbolicTensor });
  }

  async prepare(_model: tfl.LayersModel, batch: DataBatch, rng: Rng): Promise<PreparedBatch> {
    const noise = rng.normal([batch.images.shape[0], 8, 8, 3]);
    const noisy = tf.tidy(() => tf.add(tf.slice(batch.images, [0, 12, 12, 0], [-1, 8, 8, 3]), tf.mul(noise, 0.5)));
    return { noisy, noise };
  }

  loss(model: tfl.LayersModel, inputs: PreparedBatch): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> } {
    const predicted = model.apply(inputs.noisy as tf.Tensor, { training: true }) as tf.Tensor;
    const loss = tf.mean(tf.squaredDifference(predicted, inputs.noise as tf.Tensor)) as tf.Scalar;
    return { loss, metrics: { predictedStd: tf.sqrt(tf.moments(predicted).variance) as tf.Scalar } };
  }

  async afterStep(): Promise<void> {
    this.stepsSeen += 1;
  }

  saveState(): TaskState {
    return { json: { stepsSeen: this.stepsSeen } };
  }

  async restoreState(state: TaskState): Promise<void> {
    this.stepsSeen = state.json?.stepsSeen as number;
  }
}

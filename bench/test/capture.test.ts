import { adam, CapturedStep, captureTrainingStep, initBackend } from '@lab/core';
import { contrastiveDivergenceLoss, createEnergyNet, energyFunction, modelEnergies } from '@lab/energy';
import { epsilonLoss } from '@lab/samplers';
import { createUNet } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

/** The torch backend, when its addon is built here. */
const torch = await import('@lab/backend-torch')
  .then((m) => m.torchStatus())
  .catch((error: Error) => ({ available: false as const, reason: error.message }));
const suite = torch.available ? describe : describe.skip;
if (!torch.available) console.warn(`captured workload tests skipped: ${torch.reason}`);

const trainable = (model: tfl.LayersModel) => model.trainableWeights.map((w) => w.read() as tf.Variable);

/** Two copies of one model: the second gets the first's weights. */
function twins(create: () => tfl.LayersModel): [tfl.LayersModel, tfl.LayersModel] {
  const a = create();
  const b = create();
  b.setWeights(a.getWeights());
  return [a, b];
}

/**
 * Trains `plain` with `optimizer.minimize` and `captured` with `captureTrainingStep` on the same
 * batches, and expects the same losses and weights: the replays (calls 4 on) included.
 */
function expectSameTraining(
  [plain, captured]: [tfl.LayersModel, tfl.LayersModel],
  loss: (model: tfl.LayersModel, inputs: readonly tf.Tensor[]) => tf.Scalar,
  batches: () => tf.Tensor[],
  steps: number,
): void {
  const [plainOptimizer, capturedOptimizer] = [adam(1e-3), adam(1e-3)];
  const step = captureTrainingStep(capturedOptimizer, (inputs) => loss(captured, inputs), {
    variables: trainable(captured),
    onRefused: 'throw',
  });
  for (let i = 0; i < steps; i++) {
    const inputs = batches();
    const expected = plainOptimizer.minimize(() => loss(plain, inputs), true, trainable(plain)) as tf.Scalar;
    const [got] = step.run(inputs);
    expect(got?.dataSync()[0], `step ${i + 1}`).toBe(expected.dataSync()[0]);
    tf.dispose([expected, got as tf.Tensor, ...inputs]);
  }
  expect(step.state).toBe('replaying');
  const [a, b] = [trainable(plain), trainable(captured)];
  for (const [i, v] of a.entries()) expect(Array.from((b[i] as tf.Variable).dataSync()), v.name).toEqual(Array.from(v.dataSync()));
  step.dispose();
  plainOptimizer.dispose();
  capturedOptimizer.dispose();
  plain.dispose();
  captured.dispose();
}

suite('captured steps of the bench models on torch', () => {
  beforeAll(async () => {
    await initBackend({ force: 'torch' });
  });

  it('trains the small energy net as optimizer.minimize does, value for value', () => {
    let seed = 0;
    expectSameTraining(
      twins(() => createEnergyNet('small')),
      (model, [x]) => {
        const { energies } = modelEnergies(model, x as tf.Tensor, { training: true });
        const parts = contrastiveDivergenceLoss(tf.slice(energies, 0, 2), tf.slice(energies, 2, 2), 0.1);
        tf.dispose([parts.cdLoss, parts.regularizer, parts.ePosMean, parts.eNegMean]);
        return parts.loss;
      },
      () => [tf.randomUniform([4, 32, 32, 3], -1, 1, 'float32', ++seed)],
      6,
    );
  });

  it('trains the tiny UNet as optimizer.minimize does, value for value', () => {
    let seed = 100;
    expectSameTraining(
      twins(() => createUNet('tiny')),
      (model, [x, t, noise]) =>
        epsilonLoss(model.apply([x as tf.Tensor, t as tf.Tensor], { training: true }) as tf.Tensor, noise as tf.Tensor),
      () => [
        tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', ++seed),
        tf.tensor2d([[17], [900]]),
        tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', ++seed),
      ],
      5,
    );
  });

  it('takes Langevin steps on the energy net as the plain step does, with new noise each call', () => {
    const model = createEnergyNet('small');
    const energy = energyFunction(model);
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(energy(x)));
    const langevin = ([x, noise]: readonly tf.Tensor[]) =>
      tf.clipByValue(
        tf.add(tf.sub(x as tf.Tensor, tf.mul(tf.clipByValue(gradient(x as tf.Tensor), -0.03, 0.03), 10)), noise as tf.Tensor),
        -1,
        1,
      );
    const step = new CapturedStep((inputs) => [langevin(inputs)], { onRefused: 'throw' });
    let x = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 7);
    for (let i = 0; i < 6; i++) {
      const noise = tf.randomNormal(x.shape, 0, 0.05, 'float32', 50 + i);
      const expected = tf.tidy(() => langevin([x, noise]));
      const [next] = step.run([x, noise]);
      expect(Array.from((next as tf.Tensor).dataSync()), `step ${i + 1}`).toEqual(Array.from(expected.dataSync()));
      tf.dispose([x, noise, expected]);
      x = next as tf.Tensor;
    }
    expect(step.state).toBe('replaying');
    tf.dispose(x);
    step.dispose();
    model.dispose();
  });
});

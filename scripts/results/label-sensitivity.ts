/**
 * How much a class-conditional diffusion model has learned from its label, measured on real test
 * images: each image is noised to x_t (one ε per image and t, shared by all labels), and the model's
 * ε-prediction error ‖ε̂(x_t, t, y) − ε‖² is computed under every label y and the null label.
 *
 * - "label accuracy": how often the true label gives the smallest error summed over the t's, i.e.
 *   the model used as a classifier (Li et al. 2023, "Your diffusion model is secretly a zero-shot
 *   classifier"). Chance is 1 / classes; a model that ignores its label scores near chance.
 * - "label effect": ‖ε̂(x_t, t, y) − ε̂(x_t, t, null)‖ / ‖ε̂(x_t, t, null)‖, averaged over labels:
 *   what classifier-free guidance with scale s amplifies (s − 1) times.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/label-sensitivity.ts \
 *     <exported diffusion model> <cifar-10-batches-bin> [n = 200]
 */
import { initBackend, loadCheckpoint, Rng, silentLogger } from '@lab/core';
import { addNoise, createSchedule, type ScheduleOptions } from '@lab/samplers';
import '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';
import { loadSplit } from '../../apps/trainer/src/commands/data.js';
import { recordsToBatch } from '../../apps/trainer/src/data/batches.js';

const [modelDir, dataDir, nArg] = process.argv.slice(2);
if (!modelDir || !dataDir) {
  console.error('usage: label-sensitivity.ts <exported diffusion model> <cifar-10-batches-bin> [n]');
  process.exit(2);
}
const n = Number(nArg ?? 200);
const TIMESTEPS = [100, 300, 500];
const CHUNK = 50;

const backend = await initBackend({ logger: silentLogger });
const checkpoint = await loadCheckpoint(modelDir);
const config = checkpoint.manifest.config as { unet: { numClasses?: number }; schedule: ScheduleOptions };
const classes = config.unet.numClasses;
if (!classes) throw new Error(`${modelDir} is not class-conditional`);
const model = checkpoint.models.model as unknown as { apply(inputs: tf.Tensor[], options: object): tf.Tensor };
const schedule = createSchedule(config.schedule);
const { records } = await loadSplit('test', { dataDir, limit: n });
const rng = new Rng(7);

let correct = 0;
let effect = 0;
for (let start = 0; start < n; start += CHUNK) {
  const indices = Array.from({ length: Math.min(CHUNK, n - start) }, (_, i) => start + i);
  const { images, labels } = recordsToBatch(records, indices, rng);
  const size = indices.length;
  let summedErrors = tf.zeros([size, classes]);
  for (const t of TIMESTEPS) {
    const noise = rng.normal([size, 32, 32, 3]);
    const step = tf.tidy(() => {
      const xt = addNoise(schedule, images, tf.fill([size], t, 'int32') as tf.Tensor1D, noise);
      const tt = tf.fill([size], t, 'float32');
      const predict = (label: number) => model.apply([xt, tt, tf.fill([size], label, 'int32')], { training: false });
      const unconditional = predict(classes);
      const perLabel: tf.Tensor[] = [];
      let relative = tf.scalar(0);
      for (let y = 0; y < classes; y++) {
        const eps = predict(y);
        perLabel.push(tf.sum(tf.square(tf.sub(eps, noise)), [1, 2, 3]));
        const flat = (x: tf.Tensor) => tf.reshape(x, [size, -1]);
        const change = tf.div(tf.norm(flat(tf.sub(eps, unconditional)), 2, 1), tf.norm(flat(unconditional), 2, 1));
        relative = tf.add(relative, tf.sum(change));
      }
      return { errors: tf.add(summedErrors, tf.stack(perLabel, 1)), relative };
    });
    noise.dispose();
    summedErrors.dispose();
    summedErrors = step.errors;
    effect += (await step.relative.data())[0] as number;
    step.relative.dispose();
  }
  const best = tf.argMin(summedErrors, 1);
  const predicted = await best.data();
  const truth = await labels.data();
  for (let i = 0; i < size; i++) if (predicted[i] === truth[i]) correct++;
  tf.dispose([images, labels, summedErrors, best]);
}
const accuracy = correct / n;
// A binomial standard error, so a reader can tell a small lead over chance from noise.
const stderr = Math.sqrt((accuracy * (1 - accuracy)) / n);
console.log(
  `model: ${modelDir} (step ${String(checkpoint.manifest.step)}), backend ${backend.name}, n = ${n}, t = ${TIMESTEPS.join(', ')}`,
);
console.log(`label accuracy: ${(100 * accuracy).toFixed(1)} % ± ${(100 * stderr).toFixed(1)} (chance ${(100 / classes).toFixed(1)} %)`);
console.log(`label effect: ${(100 * (effect / (n * classes * TIMESTEPS.length))).toFixed(2)} % of ‖ε̂(null)‖`);

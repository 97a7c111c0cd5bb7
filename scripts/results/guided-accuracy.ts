/**
 * Does a class-conditional sample show the class it was asked for, and how does classifier-free
 * guidance change that? For each sampler and guidance scale s, `perClass` samples of every class
 * (DDIM-50 unless told otherwise) are drawn through the API's diffusion provider (the same request as `POST /models/ddpm-cifar10/sample`
 * with `classLabel` and `guidance`), and the bundled classifier labels them:
 *
 * - "accuracy": how often the classifier's top class is the requested one (chance 10 %; compare
 *   the classifier's accuracy on real test images, `testAccuracy` in its manifest: guided samples
 *   can beat it, since guidance draws the images the classifier-free model finds most typical);
 * - "IS-cls": the Inception Score on the classifier's probabilities over all the samples.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/guided-accuracy.ts \
 *     [models dir = apps/api/models] [per class = 10] [scales = 1,2,3,5] [samplers = ddim:50] [rescales = 0]
 *
 * samplers: comma-separated sampler:steps, e.g. ddim:50,ddim:20,dpm-solver++:20. rescales: guidance
 * rescale factors φ in [0, 1], comma-separated (0: plain guidance; `guidanceRescale` of the API).
 */
import { join, resolve } from 'node:path';
import { CIFAR10_CLASS_NAMES, initBackend, silentLogger } from '@lab/core';
import { createDiffusionProvider } from '@lab/unet/plugin';
import type * as tf from '@tensorflow/tfjs-core';
import { classifierAccuracy } from '../../apps/trainer/src/evaluation/accuracy.js';
import { FeatureExtractor } from '../../apps/trainer/src/evaluation/features.js';
import { inceptionScore } from '../../apps/trainer/src/metrics/inception-score.js';
import { loadClassifier } from '../../apps/trainer/src/run/load-run.js';

const modelsDir = resolve(process.argv[2] ?? 'apps/api/models');
const perClass = Number(process.argv[3] ?? 10);
const scales = (process.argv[4] ?? '1,2,3,5').split(',').map(Number);
const rescales = (process.argv[6] ?? '0').split(',').map(Number);
const SAMPLERS = ['ddpm', 'ddim', 'dpm-solver++'] as const;
const samplers = (process.argv[5] ?? 'ddim:50').split(',').map((spec) => {
  const [name, steps] = spec.split(':');
  return { sampler: name as (typeof SAMPLERS)[number], steps: Number(steps) };
});
if (
  !(Number.isInteger(perClass) && perClass >= 1) ||
  scales.some((s) => !Number.isFinite(s) || s < 0) ||
  rescales.some((r) => !(r >= 0 && r <= 1)) ||
  samplers.some((s) => !SAMPLERS.includes(s.sampler) || !(Number.isInteger(s.steps) && s.steps >= 1))
) {
  console.error(
    'usage: guided-accuracy.ts [models dir] [per class ≥ 1] [guidance scales ≥ 0, comma-separated] [sampler:steps,…] [rescales in [0, 1],…]',
  );
  process.exit(2);
}

const backend = await initBackend({ logger: silentLogger });
console.log(`backend: ${backend.name}${backend.detail ? ` (${backend.detail})` : ''}`);
const diffusion = createDiffusionProvider({ id: 'ddpm-cifar10', dir: join(modelsDir, 'ddpm-cifar10') });
await diffusion.load();
const classifier = await loadClassifier(join(modelsDir, 'classifier-cifar10'));
const extractor = new FeatureExtractor(classifier.model, classifier);
const classes = CIFAR10_CLASS_NAMES.length;
const labels = Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass));

console.log(`${perClass} samples per class, sampler and scale\n`);
console.log(`sampler          | guidance | rescale | accuracy       | IS-cls | per class (${CIFAR10_CLASS_NAMES.join(', ')})`);
for (const { sampler, steps } of samplers)
  for (const guidance of scales)
    for (const guidanceRescale of rescales) {
      const started = performance.now();
      const outputs = await extractor.runAll(labels.length, perClass, async (start) => {
        const classLabel = labels[start] as number;
        // Each class's batch has its own seed, the same at every scale: the scales differ only in guidance.
        // An explicit rescale (0 included), so that the model's default does not silently apply.
        const params = {
          count: perClass,
          seed: 1 + classLabel,
          sampler,
          steps,
          classLabel,
          guidance,
          ...(guidance === 1 ? {} : { guidanceRescale }),
        };
        return (await diffusion.sample?.(params, {})) as tf.Tensor4D;
      });
      const report = classifierAccuracy(outputs, labels);
      const se = Math.sqrt((report.accuracy * (1 - report.accuracy)) / report.count);
      const is = inceptionScore(outputs.probabilities, outputs.count, outputs.classes);
      const perClassText = report.perClass.map((a) => (a * 100).toFixed(0)).join(' ');
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      console.log(
        `${`${sampler}-${steps}`.padEnd(16)} | ${String(guidance).padStart(8)} | ${String(guidanceRescale).padStart(7)} | ${(report.accuracy * 100).toFixed(1).padStart(5)} % ± ${(se * 100).toFixed(1)} | ${is.toFixed(2).padStart(6)} | ${perClassText} (${seconds} s)`,
      );
    }
extractor.dispose();
diffusion.dispose?.();

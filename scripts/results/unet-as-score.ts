/**
 * The energy samplers with a good score: annealed Langevin and the ancestral sampler of
 * @lab/samplers driven by the bundled diffusion UNet's ε-prediction instead of an energy model,
 * at the noise levels one asks for. It separates the sampler from the model: if a setting draws
 * recognisable images from the UNet's score, what an energy model draws with it is the model's doing.
 *
 * The UNet becomes a "noise-conditional energy" whose gradient is its score: at level σ,
 * E(x) = Σ x ⊙ sg(ε̂(x, t_σ)/σ), with ε̂ computed from a copy of x off the gradient tape (sg), so
 * ∇ₓE = ε̂/σ = −score and no gradient runs through the UNet. t_σ is the
 * timestep whose √(1/ᾱ − 1) is nearest σ; labels are the null class (unconditional).
 * Prints the samples' mean square per tenth level (against the real images' + σ²) and
 * FD-cls / KID-cls / IS-cls on the bundled classifier's features (1,000 real training images,
 * as `evaluate --real-n 1000`), and writes a grid of the first 64.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/unet-as-score.ts \
 *     <ancestral|langevin> <σ_max> <levels> <Langevin steps per level> <ε> <n> <grid.png>
 *
 * The data comes from GENLAB_CIFAR10_DIR or the cache; the cached classifier features are the trainer's.
 */
import { writeFile } from 'node:fs/promises';
import { CIFAR10_CLASS_NAMES, gridPng, initBackend, Rng, silentLogger } from '@lab/core';
import { annealedLangevin, geometricSigmas, type NoiseConditionalEnergy } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import { loadSplit } from '../../apps/trainer/src/commands/data.js';
import { genlabCacheDir } from '../../apps/trainer/src/data/cifar10-source.js';
import { cachedRecordOutputs, FeatureExtractor } from '../../apps/trainer/src/evaluation/features.js';
import { compareWithReference, formatReport } from '../../apps/trainer/src/evaluation/report.js';
import { loadClassifier } from '../../apps/trainer/src/run/load-run.js';
import { loadUnetAtSigma, meanSquareOf, nearestTimestep } from './unet-at-sigma.js';

const [predictor, sigmaMaxArg, levelsArg, stepsArg, epsilonArg, nArg, out] = process.argv.slice(2);
const sigmaMax = Number(sigmaMaxArg);
const levels = Number(levelsArg);
const stepsPerLevel = Number(stepsArg);
const stepSize = Number(epsilonArg);
const n = Number(nArg);
if (
  !(predictor === 'ancestral' || predictor === 'langevin') ||
  !(sigmaMax > 0.01 && Number.isInteger(levels) && levels >= 2 && Number.isInteger(stepsPerLevel) && stepsPerLevel >= 0) ||
  !(stepSize > 0 && Number.isInteger(n) && n >= 2 && out)
) {
  console.error('usage: unet-as-score.ts <ancestral|langevin> <σ_max> <levels> <steps per level> <ε> <n> <grid.png>');
  process.exit(2);
}

await initBackend({ logger: silentLogger });
const unet = await loadUnetAtSigma('apps/api/models/ddpm-cifar10');
const { schedule } = unet;
const sigmas = geometricSigmas(sigmaMax, 0.01, levels);
const timesteps = sigmas.map((sigma) => nearestTimestep(schedule, sigma));
const energy: NoiseConditionalEnergy = (x, level) => {
  const t = timesteps[level] as number;
  const batch = x.shape[0] as number;
  // A copy through host memory is not on the tape: the UNet runs forward only.
  const epsilon = unet.epsilon(tf.tensor(x.dataSync(), x.shape), t);
  const minusScore = tf.div(epsilon, schedule.sqrtRecipm1AlphasCumprod[t] as number);
  return tf.sum(tf.reshape(tf.mul(x, minusScore), [batch, -1]), 1);
};

const classifier = await loadClassifier('apps/api/models/classifier-cifar10');
const extractor = new FeatureExtractor(classifier.model, classifier);
const rng = new Rng(0);
const trace: string[] = [];
const every = Math.max(1, Math.round(levels / 10));
const generated = await extractor.runAll(n, 50, async (start, size) => {
  const x0 = rng.normal([size, 32, 32, 3], 0, sigmaMax);
  const samples = await annealedLangevin(energy, x0, {
    sigmas,
    stepsPerLevel,
    stepSize,
    predictor: predictor === 'ancestral' ? 'ancestral' : 'none',
    rng,
    onStep: async ({ level, x }) => {
      if (start === 0 && (level % every === 0 || level === levels - 1))
        trace[level] =
          `${String(level).padStart(5)} ${(sigmas[level] as number).toFixed(4).padStart(8)} ${(await meanSquareOf(x)).toFixed(4).padStart(12)}`;
    },
  });
  x0.dispose();
  if (start === 0) {
    const first = tf.slice(samples, 0, Math.min(64, size)) as tf.Tensor4D;
    await writeFile(out as string, await gridPng(first));
    first.dispose();
  }
  return samples as tf.Tensor4D;
});
const { records } = await loadSplit('train', {});
const reference = await cachedRecordOutputs(extractor, records, { count: 1000, batchSize: 50, cacheDir: genlabCacheDir(), label: 'train' });
console.log(
  `UNet score, ${predictor}, σ ${sigmaMax} → 0.01 over ${levels} levels, ${stepsPerLevel} Langevin steps per level, ε ${stepSize}`,
);
console.log('level        σ  mean square (first batch, end of level)');
for (const line of trace) if (line) console.log(line);
console.log(
  formatReport({ generated: compareWithReference(generated, reference.outputs, new Rng(1), Math.min(500, n)) }, CIFAR10_CLASS_NAMES),
);
extractor.dispose();
unet.dispose();

/**
 * How well does a score model denoise at each noise level, and what do the energy samplers do to
 * the images' scale on the way down? For a score-matching energy model (an export, or one
 * checkpoint folder of a run) and, beside it, the bundled diffusion UNet at the same noise levels:
 *
 * - the held-out denoising loss per level, mean (σ·∇ₓE(x + σε, σ) − ε)² over n CIFAR-10 test
 *   images (the training loss, on images the model never saw): 1 = no better than doing nothing,
 *   0 = perfect. For the UNet, the same quantity with its ε-prediction at the timestep whose
 *   √(1/ᾱ − 1) is nearest σ (unconditional: the null class when it has one). "base only" is the
 *   energy's Gaussian base term alone (a Wiener filter for N(0, s²) data);
 * - the samples' mean square at the end of every tenth level, for annealed Langevin and for the
 *   ancestral sampler, against the real images' mean square + σ² (what a chain at that level
 *   should hold). A chain far below it has lost the images' contrast.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/denoising-levels.ts \
 *     <energy model dir> [n = 256] [diffusion model dir = apps/api/models/ddpm-cifar10 | none] [chains = 64]
 *
 * The data comes from GENLAB_CIFAR10_DIR or the cache (as for the trainer). Backend: GENLAB_BACKEND.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, loadModelCheckpoint, Rng, silentLogger } from '@lab/core';
import {
  denoisingScoreMatchingLoss,
  noiseLevelsOf,
  parseScoreEnergyConfig,
  SCORE_ENERGY_SAMPLERS,
  sampleScoreEnergy,
  scoreEnergyOf,
} from '@lab/energy';
import * as tf from '@tensorflow/tfjs-core';
import { loadUnetAtSigma, meanSquareOf, nearestTimestep, testImages } from './unet-at-sigma.js';

const energyDir = process.argv[2];
const n = Number(process.argv[3] ?? 256);
const diffusionArg = process.argv[4] ?? 'apps/api/models/ddpm-cifar10';
const chains = Number(process.argv[5] ?? 64);
if (!energyDir || !(Number.isInteger(n) && n >= 2) || !(Number.isInteger(chains) && chains >= 0)) {
  console.error('usage: denoising-levels.ts <energy model dir> [n ≥ 2] [diffusion model dir | none] [chains ≥ 0]');
  process.exit(2);
}

await initBackend({ logger: silentLogger });
// A run's checkpoint holds the raw and the EMA weights: the EMA ones are what the run exports.
const hasEma = existsSync(join(resolve(energyDir), 'models', 'ema'));
const energyCheckpoint = await loadModelCheckpoint(resolve(energyDir), 'energy', {
  readTensors: false,
  ...(hasEma ? { entry: 'ema' } : {}),
});
const config = parseScoreEnergyConfig(energyCheckpoint.manifest.config);
const sigmas = noiseLevelsOf(config);
const energy = scoreEnergyOf(energyCheckpoint.model, config);
const clean = await testImages(n);
const dataMeanSquare = await meanSquareOf(clean);

const unet = diffusionArg === 'none' ? undefined : await loadUnetAtSigma(resolve(diffusionArg));

const rng = new Rng(1);
const every = Math.max(1, Math.round(sigmas.length / 10));
const shown = sigmas.map((_, i) => i).filter((i) => i % every === 0 || i === sigmas.length - 1);
console.log(
  `${energyDir}: ${sigmas.length} levels, σ ${sigmas[0]} → ${sigmas.at(-1)}; ${n} test images, mean square ${dataMeanSquare.toFixed(4)}`,
);
console.log('level        σ   energy loss   base only   UNet loss (t)');
for (const i of shown) {
  const sigma = sigmas[i] as number;
  const noise = rng.normal(clean.shape);
  const levels = tf.fill([n], i, 'int32') as tf.Tensor1D;
  const { loss, scoreNorm } = denoisingScoreMatchingLoss(energy, clean, levels, sigmas, noise);
  const variance = config.dataStd ** 2 + sigma ** 2;
  const baseOnly = tf.tidy(() => tf.mean(tf.squaredDifference(tf.mul(tf.add(clean, tf.mul(noise, sigma)), sigma / variance), noise)));
  let unetColumn = '';
  if (unet) {
    const t = nearestTimestep(unet.schedule, sigma);
    const unetLoss = tf.tidy(() => tf.mean(tf.squaredDifference(unet.epsilon(tf.add(clean, tf.mul(noise, sigma)), t), noise)));
    unetColumn = `${((await unetLoss.data())[0] as number).toFixed(4)} (${t})`;
    unetLoss.dispose();
  }
  const value = async (s: tf.Tensor) => ((await s.data())[0] as number).toFixed(4);
  console.log(
    `${String(i).padStart(5)} ${sigma.toFixed(4).padStart(8)} ${(await value(loss)).padStart(13)} ${(await value(baseOnly)).padStart(11)}   ${unetColumn}`,
  );
  tf.dispose([noise, levels, loss, scoreNorm, baseOnly]);
}

for (const sampler of chains > 0 ? SCORE_ENERGY_SAMPLERS : []) {
  const trace: string[] = [];
  const samples = await sampleScoreEnergy(energyCheckpoint.model, config, {
    count: chains,
    rng: new Rng(2),
    sampler,
    onStep: async ({ level, x }) => {
      // Overwritten by every step at the level: what is left is its last one.
      const meanSquare = await meanSquareOf(x);
      const sigma = sigmas[level] as number;
      trace[level] =
        `${String(level).padStart(5)} ${sigma.toFixed(4).padStart(8)} ${meanSquare.toFixed(4).padStart(12)} ` +
        (dataMeanSquare + sigma ** 2).toFixed(4).padStart(10);
    },
  });
  const final = (await meanSquareOf(samples)).toFixed(4);
  samples.dispose();
  console.log(`\n${sampler} (the model's settings), ${chains} chains: mean square at the end of the level, then clamped`);
  console.log('level        σ  mean square  data + σ²');
  for (const i of shown) if (trace[i]) console.log(trace[i]);
  console.log(`final (after the Tweedie step, clamped to [−1, 1]): ${final} (data ${dataMeanSquare.toFixed(4)})`);
}
tf.dispose(clean);
energyCheckpoint.model.dispose();
unet?.dispose();

/**
 * Which energy form makes a trained diffusion UNet u(x, t) a good score-matching energy from the
 * start? For n CIFAR-10 test images and each σ, the held-out denoising loss mean (σ·∇ₓE − ε)² of
 *   - the UNet itself (its ε-prediction, not an energy): the floor;
 *   - the L2 form of Salimans & Ho, E = ½‖u‖² (= ‖x − D(x)‖²/2σ² with D = x − σu);
 *   - the dot form genlab uses (`unetEnergy` in @lab/energy), E = ⟨x, u⟩/2σ;
 * with the UNet asked at the timestep whose √(1/ᾱ − 1) is nearest σ, input x·√ᾱ, unconditional.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/unet-energy-forms.ts [n = 64] [model = apps/api/models/ddpm-cifar10]
 *
 * The data comes from GENLAB_CIFAR10_DIR or the cache (as for the trainer). Backend: GENLAB_BACKEND.
 */
import { initBackend, Rng, silentLogger } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { loadUnetAtSigma, nearestTimestep, testImages } from './unet-at-sigma.js';

const n = Number(process.argv[2] ?? 64);
const modelDir = process.argv[3] ?? 'apps/api/models/ddpm-cifar10';
if (!(Number.isInteger(n) && n >= 1)) {
  console.error('usage: unet-energy-forms.ts [n ≥ 1] [diffusion model dir]');
  process.exit(2);
}

await initBackend({ logger: silentLogger });
const unet = await loadUnetAtSigma(modelDir);
const clean = await testImages(n);
const rng = new Rng(1);
const meanSquaredError = (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.squaredDifference(a, b)).dataSync()[0] as number;

console.log(`n = ${n} test images, ${modelDir}`);
console.log('| σ | t | UNet ε-loss | L2 form ½‖u‖² | dot form ⟨x, u⟩/2σ |');
console.log('|---|---|---|---|---|');
for (const target of [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 50]) {
  const t = nearestTimestep(unet.schedule, target);
  const sigma = unet.schedule.sqrtRecipm1AlphasCumprod[t] as number;
  const noise = rng.normal(clean.shape);
  const [epsilon, l2, dot] = tf.tidy(() => {
    const x = tf.add(clean, tf.mul(noise, sigma));
    const l2Score = tf.grad((v: tf.Tensor) => tf.mul(tf.sum(tf.square(unet.epsilon(v, t))), 0.5))(x);
    const dotScore = tf.grad((v: tf.Tensor) => tf.div(tf.sum(tf.mul(v, unet.epsilon(v, t))), 2 * sigma))(x);
    return [
      meanSquaredError(unet.epsilon(x, t), noise),
      meanSquaredError(tf.mul(l2Score, sigma), noise),
      meanSquaredError(tf.mul(dotScore, sigma), noise),
    ];
  });
  noise.dispose();
  console.log(`| ${sigma.toFixed(3)} | ${t} | ${epsilon?.toFixed(4)} | ${l2?.toFixed(4)} | ${dot?.toFixed(4)} |`);
}
unet.dispose();

/**
 * A contrastive-divergence training step of energy-small on tfjs-torch (issue 16): the step
 * `apps/trainer` runs for `--model energy`, 20 Langevin steps of batch 32 and one Adam update.
 * It runs with LibTorch's seeded normal draws (`SEEDED_NORMAL_KERNEL`) and its layer kernels each
 * switched off and on, so that each one's share is measured in one process: "off" re-registers
 * the kernels as they were before 2026-12-05 (tf.randomNormal in JavaScript; the energy net's
 * layers as tfjs-layers runs them, filter gradients computed when made), "on" is today's
 * (the addon's draw; @lab/core's fused layer kernels, since 2026-12-06, whose gradients are
 * deferred until read). A fifth configuration has both on and its Langevin steps captured
 * (@lab/core's `CapturedStep`, which `langevin` uses: replayed without tfjs's engine, since
 * 2026-12-06); the first four run them as they are. Configurations alternate over rounds; the
 * median per configuration is reported.
 *
 *   npm run bench:cd-step                        # prints the table
 *   npm run bench:cd-step -- --rounds 3 --steps 30 --write   # → docs/bench/torch-cd-step.md
 *
 * Threads: GENLAB_TORCH_THREADS (default here 1). Needs the LibTorch addon.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { adam, initBackend, Rng, SEEDED_NORMAL_KERNEL, setStepCapture } from '@lab/core';
import { createEnergyNet, ReplayBuffer, trainEnergyStep } from '@lab/energy';
import * as tf from '@tensorflow/tfjs-core';
import { median } from './lib/measure.js';
import { useFusedLayerKernels } from './lib/torch-kernels.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '30' },
    write: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
process.env.GENLAB_TORCH_THREADS ??= '1';
const info = await initBackend({ force: 'torch' });

const BATCH = 32;
const LANGEVIN_STEPS = 20;
const noiseKernel = tf.getKernel(SEEDED_NORMAL_KERNEL, 'torch');
const filterKernel = tf.getKernel('Conv2DBackpropFilter', 'torch');
if (!noiseKernel || !filterKernel) throw new Error('the torch backend lacks the kernels this bench switches');

/** Registers the torch backend's kernels with each native piece on or off, and turns step capture on or off. */
function configure(nativeNoise: boolean, fusedLayers: boolean, capture: boolean): void {
  setStepCapture(capture);
  if (tf.getKernel(SEEDED_NORMAL_KERNEL, 'torch')) tf.unregisterKernel(SEEDED_NORMAL_KERNEL, 'torch');
  if (nativeNoise) tf.registerKernel(noiseKernel!);
  tf.unregisterKernel('Conv2DBackpropFilter', 'torch');
  const lazy = filterKernel!;
  const eager: tf.KernelConfig = {
    ...lazy,
    kernelFunc: (args) => {
      const out = lazy.kernelFunc(args) as tf.TensorInfo;
      // Reading the result's addon id resolves it now, as the kernel did before it was deferred.
      (args.backend as unknown as { id(info: tf.TensorInfo): number }).id(out);
      return out;
    },
  };
  tf.registerKernel(fusedLayers ? lazy : eager);
  useFusedLayerKernels(fusedLayers);
}

const model = createEnergyNet({ preset: 'small', seed: 1 });
const optimizer = adam(1e-4);
const rng = new Rng(3);
const buffer = new ReplayBuffer({ sampleShape: [32, 32, 3], capacity: 2048 });
const data = rng.uniform([BATCH, 32, 32, 3], -1, 1);
const step = () => trainEnergyStep({ model, optimizer, buffer, data, rng, langevin: { steps: LANGEVIN_STEPS }, dataNoiseStd: 0.005 });

const configurations = [
  { nativeNoise: false, deferred: false, capture: false },
  { nativeNoise: true, deferred: false, capture: false },
  { nativeNoise: false, deferred: true, capture: false },
  { nativeNoise: true, deferred: true, capture: false },
  { nativeNoise: true, deferred: true, capture: true },
];
const times = configurations.map(() => [] as number[]);
const tensors = new Set<number>();
for (let round = 0; round < rounds; round++) {
  for (const [i, c] of configurations.entries()) {
    configure(c.nativeNoise, c.deferred, c.capture);
    for (let k = 0; k < 5; k++) await step();
    const started = performance.now();
    for (let k = 0; k < steps; k++) await step();
    times[i]!.push((performance.now() - started) / steps);
    tensors.add(tf.memory().numTensors);
  }
}
configure(true, true, true);
if (tensors.size !== 1) throw new Error(`the tensor count changed between configurations: ${[...tensors].join(', ')}`);

/** Median ms of drawing one 64×32×32×3 seeded normal tensor (what one Langevin step of batch 64 draws). */
function drawMs(draw: (seed: number) => tf.Tensor): number {
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const started = performance.now();
    for (let seed = 1; seed <= 20; seed++) draw(seed).dispose();
    samples.push((performance.now() - started) / 20);
  }
  return median(samples);
}
const drawShape = [64, 32, 32, 3];
const javascriptDrawMs = drawMs((seed) => tf.randomNormal(drawShape, 0, 1, 'float32', seed));
const addonDrawMs = drawMs(
  (seed) => tf.engine().runKernel(SEEDED_NORMAL_KERNEL, {}, { shape: drawShape, mean: 0, stdDev: 1, seed }) as tf.Tensor,
);

const baseline = median(times[0]!);
const lines = [
  `# A contrastive-divergence step of energy-small on tfjs-torch`,
  '',
  `Written by \`npm run bench:cd-step -- --rounds ${rounds} --steps ${steps} --write\` (bench/cd-step.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  `Backend: ${info.detail ?? info.name}. One step: ${LANGEVIN_STEPS} Langevin steps on ${BATCH} negatives from the replay buffer, then the CD loss and one Adam update (\`trainEnergyStep\`).`,
  `Median over ${rounds} rounds of ${steps} steps each (after 5 untimed), configurations alternating; wall-clock, so it depends on the machine's load.`,
  '',
  '| seeded normal draws | layers | Langevin steps | ms per CD step | speed-up over the first row |',
  '| --- | --- | --- | ---: | ---: |',
  ...configurations.map((c, i) => {
    const ms = median(times[i]!);
    return `| ${c.nativeNoise ? 'in the addon' : 'tf.randomNormal (JavaScript)'} | ${c.deferred ? 'fused kernels, gradients deferred' : 'tfjs-layers, filter gradients when made'} | ${c.capture ? 'captured, replayed' : 'as they are'} | ${ms.toFixed(1)} | ${(baseline / ms).toFixed(2)}× |`;
  }),
  '',
  `One seeded 64×32×32×3 normal draw (the same values either way): tf.randomNormal ${javascriptDrawMs.toFixed(2)} ms, the addon ${addonDrawMs.toFixed(2)} ms (${(javascriptDrawMs / addonDrawMs).toFixed(1)}×; median of 7 rounds of 20).`,
  '',
];
const report = lines.join('\n');
console.log(report);
if (values.write) {
  writeFileSync(new URL('../docs/bench/torch-cd-step.md', import.meta.url), report);
  console.log('wrote docs/bench/torch-cd-step.md');
}
tf.dispose(data);
optimizer.dispose();
model.dispose();

/**
 * The sample grids of docs/results.md, from the bundled models, through the same providers the
 * API serves them with (so a grid is what `npm start` returns for the same request).
 *
 *   node --conditions=@lab/source --import tsx scripts/results/grids.ts [models dir] [out dir] [all | diffusion | served | energy]
 *
 * Writes results-ddpm1000.png, results-ddim50.png, results-classes-ddim50.png (one row per class),
 * results-classes-served.png (one row per class, at what a request that names only its class gets:
 * the model's own sampler, steps, guidance and guidance rescale; `served` writes only this one)
 * and results-energy.png (the energy model's default sampler and steps, what a request without
 * them gets), and prints each request with its wall time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelProvider, SampleParams } from '@lab/api-plugin';
import { CIFAR10_CLASS_NAMES, gridPng, initBackend, silentLogger } from '@lab/core';
import { createEnergyProvider } from '@lab/energy/plugin';
import { createDiffusionProvider } from '@lab/unet/plugin';
import * as tf from '@tensorflow/tfjs-core';

const modelsDir = resolve(process.argv[2] ?? 'apps/api/models');
const outDir = resolve(process.argv[3] ?? 'docs/images');
const which = process.argv[4] ?? 'all';
if (!['all', 'diffusion', 'served', 'energy'].includes(which)) {
  console.error('usage: grids.ts [models dir] [out dir] [all | diffusion | served | energy]');
  process.exit(2);
}
const PER_CLASS = 8;
// The scale at which the bundled classifier recognised the requested class most often (guided-accuracy.ts: 19 %, 32 %, 55 % at 1, 2, 4).
const GUIDANCE = 4;

const backend = await initBackend({ logger: silentLogger });
console.log(`backend: ${backend.name}${backend.detail ? ` (${backend.detail})` : ''}`);
await mkdir(outDir, { recursive: true });

async function sample(provider: ModelProvider, params: SampleParams): Promise<tf.Tensor4D> {
  const started = performance.now();
  const images = (await provider.sample?.(params, {})) as tf.Tensor4D;
  console.log(`${provider.id} ${JSON.stringify(params)}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return images;
}

async function writeGrid(name: string, images: tf.Tensor4D, columns: number): Promise<void> {
  await writeFile(join(outDir, name), await gridPng(images, { columns }));
  images.dispose();
  console.log(`wrote ${join(outDir, name)}`);
}

/** One row of PER_CLASS samples per class, each row from the same seed. */
async function classRows(provider: ModelProvider, params: Omit<SampleParams, 'count' | 'seed' | 'classLabel'>): Promise<tf.Tensor4D> {
  const rows: tf.Tensor4D[] = [];
  for (let label = 0; label < CIFAR10_CLASS_NAMES.length; label++) {
    rows.push(await sample(provider, { count: PER_CLASS, seed: 1, classLabel: label, ...params }));
  }
  const byClass = tf.concat(rows) as tf.Tensor4D;
  tf.dispose(rows);
  return byClass;
}

if (which === 'all' || which === 'served') {
  const diffusion = createDiffusionProvider({ id: 'ddpm-cifar10', dir: join(modelsDir, 'ddpm-cifar10') });
  const info = await diffusion.load();
  // No guidance in the request: the model's defaults (info.defaultGuidance, info.defaultGuidanceRescale) apply.
  const params = { sampler: info.defaultSampler ?? 'ddim', steps: info.defaultSteps };
  console.log(
    `served defaults: ${JSON.stringify({ ...params, guidance: info.defaultGuidance, guidanceRescale: info.defaultGuidanceRescale })}`,
  );
  await writeGrid('results-classes-served.png', await classRows(diffusion, params), PER_CLASS);
  diffusion.dispose?.();
}

if (which === 'all' || which === 'diffusion') {
  const diffusion = createDiffusionProvider({ id: 'ddpm-cifar10', dir: join(modelsDir, 'ddpm-cifar10') });
  await diffusion.load();
  await writeGrid('results-ddpm1000.png', await sample(diffusion, { count: 20, seed: 1, sampler: 'ddpm', steps: 1000 }), 10);
  await writeGrid('results-ddim50.png', await sample(diffusion, { count: 20, seed: 1, sampler: 'ddim', steps: 50 }), 10);
  await writeGrid('results-classes-ddim50.png', await classRows(diffusion, { sampler: 'ddim', steps: 50, guidance: GUIDANCE }), PER_CLASS);
  diffusion.dispose?.();
}

if (which === 'all' || which === 'energy') {
  const energy = createEnergyProvider({ id: 'ebm-cifar10', dir: join(modelsDir, 'ebm-cifar10') });
  // The API's defaults for this model, so the grid is what a request without `sampler` and `steps` returns.
  const { defaultSampler, defaultSteps } = await energy.load();
  await writeGrid(
    'results-energy.png',
    await sample(energy, { count: 20, seed: 1, sampler: defaultSampler ?? 'langevin', steps: defaultSteps }),
    10,
  );
  energy.dispose?.();
}

/**
 * How long one request for 16 images takes through the provider the API serves a model with:
 * one warm-up request, then three timed ones (seeds 0–2), for each number of steps.
 *
 *   node --conditions=@lab/source --import tsx scripts/results/request-time.ts <model dir> <sampler> [steps = 49,99] [count = 16]
 *
 * e.g. `apps/api/models/ebm-cifar10 ancestral 49,99`. Diffusion and energy models; backend: GENLAB_BACKEND.
 * Time depends on the machine's load: pause other work while measuring.
 */
import type { ModelProvider, SamplerName } from '@lab/api-plugin';
import { initBackend, readManifest, silentLogger } from '@lab/core';
import { createEnergyProvider } from '@lab/energy/plugin';
import { createDiffusionProvider } from '@lab/unet/plugin';
import type * as tf from '@tensorflow/tfjs-core';

const [dir, sampler, stepList = '49,99', countArg = '16'] = process.argv.slice(2);
const count = Number(countArg);
const stepCounts = stepList.split(',').map(Number);
if (!dir || !sampler || !(Number.isInteger(count) && count >= 1) || !stepCounts.every((s) => Number.isInteger(s) && s >= 1)) {
  console.error('usage: request-time.ts <model dir> <sampler> [steps = 49,99] [count = 16]');
  process.exit(2);
}

const backend = await initBackend({ logger: silentLogger });
console.log(`backend: ${backend.name}${backend.detail ? ` (${backend.detail})` : ''}`);
const { kind } = await readManifest(dir);
const options = { id: kind, dir };
const provider: ModelProvider = kind === 'diffusion' ? createDiffusionProvider(options) : createEnergyProvider(options);
await provider.load();
const request = async (steps: number, seed: number): Promise<number> => {
  const started = performance.now();
  const images = (await provider.sample?.({ count, seed, sampler: sampler as SamplerName, steps }, {})) as tf.Tensor;
  const seconds = (performance.now() - started) / 1000;
  images.dispose();
  return seconds;
};
await request(stepCounts[0] as number, 0);
for (const steps of stepCounts) {
  const times = [await request(steps, 0), await request(steps, 1), await request(steps, 2)];
  console.log(`${sampler}, ${steps} steps, ${count} images: ${times.map((t) => `${t.toFixed(2)} s`).join(', ')}`);
}
provider.dispose?.();

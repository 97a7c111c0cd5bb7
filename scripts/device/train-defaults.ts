/**
 * Trains one of the bundled default models on a GPU machine reached through WebGPU (Dawn),
 * then exports it in the layout the API loads. Bundled with esbuild and run with a carried
 * Node (see docs/gpu.md); not part of the test suite.
 *
 *   node train-defaults.mjs <diffusion|energy|classifier> <cifar dir or batch files…> <runs dir> <models dir>
 *
 * Stops cleanly on SIGINT (the caller bounds the wall time with `timeout -s INT`), writing a
 * checkpoint, and exports whatever step it reached.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger, initBackend, type ModuleLoader } from '@lab/core';
import { exportCommand } from '../../apps/trainer/src/commands/export.js';
import { trainCommand } from '../../apps/trainer/src/commands/train.js';
import { concatRecords, parseCifarBatch } from '../../apps/trainer/src/data/cifar10-format.js';
import { progressBar } from '../../apps/trainer/src/run/progress.js';

// Literal specifiers so the bundle holds one tfjs-core; `webgpu` (Dawn) is carried beside it.
const loader: ModuleLoader = async (specifier) => {
  if (specifier === 'webgpu') return import('webgpu');
  if (specifier === '@tensorflow/tfjs-backend-webgpu') return import('@tensorflow/tfjs-backend-webgpu');
  if (specifier === '@tensorflow/tfjs-backend-wasm') return import('@tensorflow/tfjs-backend-wasm');
  throw Object.assign(new Error(`${specifier} not carried`), { code: 'ERR_MODULE_NOT_FOUND' });
};

const [kind, files, runsDir, modelsDir] = process.argv.slice(2);
if (!kind || !files || !runsDir || !modelsDir) throw new Error('usage: <kind> <batch files, comma-separated> <runs dir> <models dir>');
const logger = createLogger({ pretty: true, fields: { model: kind } });
const backend = await initBackend({ loader, logger });
const parts = await Promise.all(files.split(',').map(async (f) => parseCifarBatch(new Uint8Array(await readFile(f)), f)));
const records = concatRecords(parts);
logger.info('data', { records: records.count, backend: backend.name });

const settings = {
  diffusion: {
    model: 'diffusion' as const,
    taskConfig: {
      unet: { preset: 'small', numClasses: 10 },
      schedule: { kind: 'linear', timesteps: 1000 },
      labelDropout: 0.1,
      sampleSteps: 50,
    },
    batch: 128,
    lr: 3e-4,
    ema: 0.999,
  },
  energy: { model: 'energy' as const, preset: 'small', batch: 128, lr: 1e-4, ema: 0.99 },
  classifier: { model: 'classifier' as const, preset: 'small', batch: 128, lr: 1e-3, ema: 0.99 },
}[kind as 'diffusion' | 'energy' | 'classifier'];
if (!settings) throw new Error(`unknown kind ${kind}`);
// SMOKE=1: a few steps of the smallest models, to check the bundle on any machine first.
const smoke = process.env.SMOKE === '1';
// CPU runs: a smaller UNet and batch (env DIFFUSION_PRESET, BATCH, LANGEVIN_STEPS, STEPS, EVERY).
if (process.env.DIFFUSION_PRESET && settings.model === 'diffusion' && settings.taskConfig)
  settings.taskConfig.unet.preset = process.env.DIFFUSION_PRESET;
if (process.env.BATCH) Object.assign(settings, { batch: Number(process.env.BATCH) });
if (process.env.LANGEVIN_STEPS && kind === 'energy') Object.assign(settings, { langevinSteps: Number(process.env.LANGEVIN_STEPS) });
if (smoke) {
  Object.assign(settings, { batch: 4 });
  if (settings.model === 'diffusion' && settings.taskConfig) settings.taskConfig.unet.preset = 'tiny';
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
const run = join(runsDir, kind);
const result = await trainCommand({
  ...settings,
  out: run,
  steps: smoke ? 2 : Number(process.env.STEPS ?? 200_000),
  warmup: 200,
  seed: 1,
  checkpointEvery: smoke ? 1 : Number(process.env.EVERY ?? 1000),
  sampleEvery: smoke ? 2 : Number(process.env.EVERY ?? 1000),
  samples: smoke ? 4 : 64,
  records,
  signal: controller.signal,
  logger,
  progress: progressBar(),
  backend: backend.name,
});
logger.info('trained', { step: result.step, stoppedBy: result.stoppedBy });
const exported = await exportCommand({ run, to: join(modelsDir, kind), force: true, logger });
logger.info('exported', { path: exported.path, step: exported.step });

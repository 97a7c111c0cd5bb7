#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, initBackend, isGenlabError, type Logger, parseBackendName, ValidationError } from '@lab/core';
import { evaluateClassifierCommand, evaluateCommand } from './commands/evaluate.js';
import { exportCommand } from './commands/export.js';
import { reportCommand } from './commands/report.js';
import { sampleCommand } from './commands/sample.js';
import { trainCommand } from './commands/train.js';
import { progressBar } from './run/progress.js';
import { parseModelKind } from './tasks/index.js';
import { parseDecayKind } from './train/learning-rate.js';

const USAGE = `genlab-train <command> [options]

Commands:
  train     --model diffusion|energy|classifier --out runs/<name> [--preset P] [--steps N] [--batch B]
            [--micro-batch M] [--lr X] [--warmup N] [--lr-decay none|cosine|linear] [--lr-decay-start N]
            [--min-lr X] [--grad-clip X (0 = off)] [--ema DECAY] [--seed S]
            [--data-dir DIR] [--classes 0,1,…] [--limit N] [--checkpoint-every K] [--sample-every K]
            [--samples N] [--sample-steps N] [--langevin-steps N] [--objective cd|dsm] [--schedule linear|cosine]
            [--timesteps T] [--conditional] [--label-dropout P] [--keep N] [--workers N] [--resume]
            [--init-from <run or exported model>] [--report-every N]
  evaluate  --run runs/<name> [--n N] [--classifier <classifier run or export>] [--real-n N]
            [--test-n N] [--batch B] [--sample-steps N] [--guidance G] [--step N] [--seed S] [--data-dir DIR]
  evaluate  --classifier <classifier run or export> [--test-n N] [--batch B] [--data-dir DIR]
            (test-set accuracy only)
  export    --run runs/<name> --to <models dir>/<id> [--step N] [--force] [--data-dir DIR (energy)]
  sample    --run runs/<name> --out grid.png [--n N] [--steps N] [--guidance G] [--step N] [--seed S]
  report    --run runs/<name> [--samples N]   (writes runs/<name>/report.html: curves, evaluations, samples)

Data: --data-dir or GENLAB_CIFAR10_DIR (a cifar-10-batches-bin folder); otherwise the official
archive is downloaded once into GENLAB_CACHE (default ~/.cache/genlab).
Backend (every command): --backend torch|tensorflow-gpu|tensorflow|webgpu|wasm|cpu, or GENLAB_BACKEND;
otherwise the fastest available. torch uses every core (GENLAB_TORCH_THREADS sets how many).
Ctrl-C during training writes a checkpoint and exits (a second Ctrl-C quits at once).
--lr-decay anneals the learning rate to --min-lr (default 0) at the run's last step, starting at
--lr-decay-start (default: the end of warm-up; on --resume, the step the run is at). It may be
added, changed or removed (none) on --resume; a decayed run extended with --steps is stretched.
--workers N (default 0) computes each batch's gradients in N worker threads plus the main thread,
split into N+1 shards: the same step, on more cores (allowed on --resume; not stored in the run);
for wasm and cpu only (unnecessary on torch, which is multi-threaded).
--objective dsm (energy) trains a noise-conditional energy by denoising score matching, sampled by
annealed Langevin dynamics (no Langevin chains while training); cd (default) is contrastive divergence.
--init-from starts a new run from trained weights (a run's latest EMA weights, or an exported
model folder such as apps/api/models/ddpm-cifar10) with their architecture; Adam, the step count
and the learning-rate schedule start afresh (fine-tuning, or training on across machines).
--report-every N rewrites the run's report.html every N steps while training (evaluate rewrites it too).`;

const OPTIONS = {
  model: { type: 'string' },
  preset: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  'micro-batch': { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  'init-from': { type: 'string' },
  'lr-decay': { type: 'string' },
  'lr-decay-start': { type: 'string' },
  'min-lr': { type: 'string' },
  'grad-clip': { type: 'string' },
  ema: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  seed: { type: 'string' },
  'data-dir': { type: 'string' },
  classes: { type: 'string' },
  limit: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'sample-every': { type: 'string' },
  samples: { type: 'string' },
  'sample-steps': { type: 'string' },
  'langevin-steps': { type: 'string' },
  objective: { type: 'string' },
  schedule: { type: 'string' },
  timesteps: { type: 'string' },
  conditional: { type: 'boolean' },
  'label-dropout': { type: 'string' },
  keep: { type: 'string' },
  workers: { type: 'string' },
  'report-every': { type: 'string' },
  run: { type: 'string' },
  n: { type: 'string' },
  classifier: { type: 'string' },
  'real-n': { type: 'string' },
  'test-n': { type: 'string' },
  to: { type: 'string' },
  step: { type: 'string' },
  guidance: { type: 'string' },
  force: { type: 'boolean' },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** A numeric flag: integer unless `real`, and ≥ `min`. */
function parseObjective(value: string): 'cd' | 'dsm' {
  if (value !== 'cd' && value !== 'dsm') throw new ValidationError(`--objective must be cd or dsm, got '${value}'`);
  return value;
}

function num(values: Values, name: keyof Values, options: { real?: boolean; min?: number } = {}): number | undefined {
  const real = options.real ?? false;
  const min = options.min ?? (real ? 0 : 1);
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(value) || (!real && !Number.isInteger(value)) || value < min) {
    throw new ValidationError(`--${String(name)} must be ${real ? 'a number' : 'an integer'} ≥ ${min}, got '${String(raw)}'`);
  }
  return value;
}

/**
 * Paths on the command line are relative to the workspace root when nx runs the CLI (its npm
 * scripts run inside apps/trainer, but `--out runs/x` should mean <repo>/runs/x), else to the cwd.
 */
function atBase(path: string): string {
  return resolve(process.env.NX_WORKSPACE_ROOT || process.cwd(), path);
}

function required(values: Values, name: 'out' | 'run' | 'to'): string {
  const value = values[name];
  if (!value) throw new ValidationError(`--${name} is required`);
  return atBase(value);
}

/** Runs one CLI invocation; returns the process exit code. */
export async function main(argv: string[], logger: Logger = createLogger({ pretty: true })): Promise<number> {
  const { values, positionals } = parse(argv);
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  if (command === 'report') {
    // Reading files and drawing charts: no tfjs backend needed.
    const result = await reportCommand({ run: required(values, 'run'), samples: num(values, 'samples'), logger });
    process.stdout.write(`wrote ${result.file} (step ${result.step}, ${result.charts} charts)\n`);
    return 0;
  }
  const dataDir = values['data-dir'] ? { dataDir: atBase(values['data-dir']) } : {};
  const backend = await initBackend({ logger, ...(values.backend ? { force: parseBackendName(values.backend) } : {}) });
  logger.info('backend', { backend: backend.name, tfjs: backend.tfBackend, detail: backend.detail });
  process.stderr.write(`backend: ${backend.name} (${backend.detail})\n`);

  switch (command) {
    case 'train': {
      const controller = new AbortController();
      const quitNow = () => process.exit(130);
      const onSigint = () => {
        process.stderr.write('\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)\n');
        controller.abort();
        process.once('SIGINT', quitNow);
      };
      process.once('SIGINT', onSigint);
      try {
        const classes = values.classes?.split(',').map((c) => Number(c.trim()));
        const result = await trainCommand({
          out: required(values, 'out'),
          ...(values.model ? { model: parseModelKind(values.model) } : {}),
          ...(values.preset ? { preset: values.preset } : {}),
          resume: values.resume === true,
          ...(values['init-from'] ? { initFrom: atBase(values['init-from']) } : {}),
          steps: num(values, 'steps'),
          batch: num(values, 'batch'),
          microBatch: num(values, 'micro-batch'),
          lr: num(values, 'lr', { real: true }),
          warmup: num(values, 'warmup', { min: 0 }),
          ...(values['lr-decay'] ? { lrDecay: parseDecayKind(values['lr-decay']) ?? 'none' } : {}),
          lrDecayStart: num(values, 'lr-decay-start', { min: 0 }),
          minLr: num(values, 'min-lr', { real: true, min: 0 }),
          gradClip: num(values, 'grad-clip', { real: true }),
          ema: num(values, 'ema', { real: true }),
          seed: num(values, 'seed', { min: 0 }),
          limit: num(values, 'limit'),
          checkpointEvery: num(values, 'checkpoint-every'),
          sampleEvery: num(values, 'sample-every', { min: 0 }),
          samples: num(values, 'samples'),
          sampleSteps: num(values, 'sample-steps'),
          langevinSteps: num(values, 'langevin-steps'),
          ...(values.objective ? { objective: parseObjective(values.objective) } : {}),
          timesteps: num(values, 'timesteps'),
          ...(values.conditional ? { conditional: true } : {}),
          labelDropout: num(values, 'label-dropout', { real: true }),
          keep: num(values, 'keep'),
          workers: num(values, 'workers', { min: 0 }),
          reportEvery: num(values, 'report-every'),
          ...(values.schedule ? { schedule: values.schedule as 'linear' } : {}),
          ...(classes ? { classes } : {}),
          ...dataDir,
          signal: controller.signal,
          logger,
          progress: progressBar(),
          backend: backend.name,
        } as Parameters<typeof trainCommand>[0]);
        const how = result.stoppedBy === 'signal' ? 'interrupted' : 'finished';
        process.stdout.write(`${how} at step ${result.step}; checkpoint ${result.checkpoint}\n`);
        if (result.stoppedBy === 'signal') process.stdout.write(`continue with: train --out ${result.runDir} --resume\n`);
        return result.stoppedBy === 'signal' ? 130 : 0;
      } finally {
        process.removeListener('SIGINT', onSigint);
        process.removeListener('SIGINT', quitNow);
      }
    }
    case 'evaluate': {
      if (!values.run && values.classifier) {
        const accuracy = await evaluateClassifierCommand({
          classifier: atBase(values.classifier),
          testCount: num(values, 'test-n'),
          batch: num(values, 'batch'),
          ...dataDir,
          logger,
        } as Parameters<typeof evaluateClassifierCommand>[0]);
        process.stdout.write(`${accuracy.table}\n`);
        return 0;
      }
      const report = await evaluateCommand({
        run: required(values, 'run'),
        n: num(values, 'n', { min: 2 }),
        realCount: num(values, 'real-n', { min: 2 }),
        testCount: num(values, 'test-n'),
        batch: num(values, 'batch'),
        seed: num(values, 'seed', { min: 0 }),
        sampleSteps: num(values, 'sample-steps'),
        guidance: num(values, 'guidance', { real: true }),
        step: num(values, 'step', { min: 0 }),
        ...(values.classifier ? { classifier: atBase(values.classifier) } : {}),
        ...dataDir,
        logger,
      } as Parameters<typeof evaluateCommand>[0]);
      process.stdout.write(`${report.table}\n`);
      process.stdout.write(`(step ${report.step}; features: ${report.features}; written to ${report.file})\n`);
      return 0;
    }
    case 'export': {
      const result = await exportCommand({
        run: required(values, 'run'),
        to: required(values, 'to'),
        force: values.force === true,
        ...dataDir,
        ...(values.step ? { step: num(values, 'step', { min: 0 }) as number } : {}),
        logger,
      });
      process.stdout.write(`exported step ${result.step} to ${result.path}\n`);
      return 0;
    }
    case 'sample': {
      const result = await sampleCommand({
        run: required(values, 'run'),
        out: required(values, 'out'),
        n: num(values, 'n'),
        seed: num(values, 'seed', { min: 0 }),
        steps: num(values, 'steps'),
        guidance: num(values, 'guidance', { real: true }),
        step: num(values, 'step', { min: 0 }),
        logger,
      } as Parameters<typeof sampleCommand>[0]);
      process.stdout.write(`wrote ${result.path} (step ${result.step})\n`);
      return 0;
    }
    default:
      throw new ValidationError(`unknown command '${command}' (train, evaluate, export, sample, report)`);
  }
}

// Run when executed directly, also through the npm bin symlink (hence realpath).
const isEntryPoint = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isEntryPoint) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${isGenlabError(error) || error instanceof TypeError ? error.message : String(error)}\n`);
      if (!isGenlabError(error) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      process.exitCode = isGenlabError(error) && error.code === 'validation' ? 2 : 1;
    },
  );
}

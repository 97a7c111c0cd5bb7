import { ValidationError } from '@lab/core';
import { type TrainCommandOptions, trainCommand } from '../commands/train.js';
import { progressBar } from '../run/progress.js';
import { parseModelKind } from '../tasks/index.js';
import { parseDecayKind } from '../train/learning-rate.js';
import type { CliCommand, CliContext } from './command.js';
import { atBase, dataDirOption, type FlagValues, num, parseFlags, requiredPath, stepSizeOption } from './flags.js';

export const TRAIN_FLAGS = {
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
  'sigma-max': { type: 'string' },
  'sigma-min': { type: 'string' },
  'noise-levels': { type: 'string' },
  'step-size': { type: 'string' },
  schedule: { type: 'string' },
  timesteps: { type: 'string' },
  conditional: { type: 'boolean' },
  'label-dropout': { type: 'string' },
  keep: { type: 'string' },
  workers: { type: 'string' },
  'report-every': { type: 'string' },
  cutout: { type: 'string' },
  'weight-decay': { type: 'string' },
} as const;

export const TRAIN_USAGE = `  train     --model diffusion|energy|classifier --out runs/<name> [--preset P] [--steps N] [--batch B]
            [--micro-batch M] [--lr X] [--warmup N] [--lr-decay none|cosine|linear] [--lr-decay-start N]
            [--min-lr X] [--grad-clip X (0 = off)] [--weight-decay W] [--ema DECAY] [--seed S]
            [--data-dir DIR] [--classes 0,1,…] [--limit N] [--checkpoint-every K] [--sample-every K]
            [--samples N] [--sample-steps N] [--langevin-steps N] [--objective cd|dsm] [--sigma-max S]
            [--sigma-min S] [--noise-levels L] [--step-size E] [--schedule linear|cosine] [--timesteps T]
            [--conditional] [--label-dropout P] [--keep N] [--workers N] [--resume]
            [--init-from <run or exported model>] [--report-every N] [--cutout N (classifier)]`;

/** What the flags mean beyond their one-line usage. */
export const TRAIN_NOTES = `Ctrl-C during training writes a checkpoint and exits (a second Ctrl-C quits at once).
--lr-decay anneals the learning rate to --min-lr (default 0) at the run's last step, starting at
--lr-decay-start (default: the end of warm-up; on --resume, the step the run is at). It may be
added, changed or removed (none) on --resume; a decayed run extended with --steps is stretched.
--workers N (default 0) computes each batch's gradients in N worker threads plus the main thread,
split into N+1 shards: the same step, on more cores (allowed on --resume; not stored in the run);
for wasm and cpu only (unnecessary on torch, which is multi-threaded).
--objective dsm (energy) trains a noise-conditional energy by denoising score matching, sampled by
annealed Langevin dynamics (no Langevin chains while training); cd (default) is contrastive divergence.
--sigma-max, --sigma-min and --noise-levels set a dsm run's geometric noise levels (default 1, 0.01,
10: σ_max near the largest distance between images mixes better; see docs/results.md), and
--step-size its sampler's default ε (default 5e-5), which the exported model serves with.
A dsm run's --preset is an energy net (default resnet-small) or a UNet energy, unet-tiny or unet-small:
E(x, σ) = ⟨x, UNet(x/√(1 + σ²), t(σ))⟩/2σ, ~3× a diffusion step per image but a far better denoiser.
--model energy --objective dsm --init-from <diffusion model> builds that energy on the diffusion
model's UNet (at its null class), a good start: only the noise levels and --step-size are the run's.
A UNet energy's defaults are the bundled one's: σ 80 → 0.01 over 100 levels, the ancestral sampler.
--init-from starts a new run from trained weights (a run's latest EMA weights, or an exported
model folder such as apps/api/models/ddpm-cifar10) with their architecture; Adam, the step count
and the learning-rate schedule start afresh (fine-tuning, or training on across machines).
--report-every N rewrites the run's report.html every N steps while training (evaluate rewrites it too).
--cutout N (classifier runs) erases an N×N square (to mid-grey) at a random place of every training
image, a regulariser on top of the flips and shifts; set when a run starts, stored in it.
--weight-decay W (default 0) is decoupled weight decay (AdamW): before each Adam step every kernel
shrinks by the factor 1 − lr·W, lr the step's learning rate (biases and batch-norm parameters do
not decay). Set when a run starts (or with --init-from), stored in it.`;

function parseObjective(value: string): 'cd' | 'dsm' {
  if (value !== 'cd' && value !== 'dsm') throw new ValidationError(`--objective must be cd or dsm, got '${value}'`);
  return value;
}

function parseSchedule(value: string): 'linear' | 'cosine' {
  if (value !== 'linear' && value !== 'cosine') throw new ValidationError(`--schedule must be linear or cosine, got '${value}'`);
  return value;
}

/** `{ noise }` with the noise-level flags that were given (a dsm run's; the task validates them), else nothing. */
function noiseLevelOptions(values: FlagValues): { noise?: { max?: number; min?: number; levels?: number } } {
  const given = Object.entries({
    max: num(values, 'sigma-max', { real: true }),
    min: num(values, 'sigma-min', { real: true }),
    levels: num(values, 'noise-levels'),
  }).filter(([, value]) => value !== undefined);
  return given.length === 0 ? {} : { noise: Object.fromEntries(given) };
}

/** The train command's options from its argv (no signal, logger, progress or backend yet). */
export function trainOptions(argv: readonly string[]): TrainCommandOptions {
  const values = parseFlags(argv, TRAIN_FLAGS);
  const classes = values.classes?.split(',').map((c) => Number(c.trim()));
  return {
    out: requiredPath(values, 'out'),
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
    ...noiseLevelOptions(values),
    ...stepSizeOption(values),
    timesteps: num(values, 'timesteps'),
    ...(values.conditional ? { conditional: true } : {}),
    labelDropout: num(values, 'label-dropout', { real: true }),
    keep: num(values, 'keep'),
    workers: num(values, 'workers', { min: 0 }),
    reportEvery: num(values, 'report-every'),
    cutout: num(values, 'cutout', { min: 0 }),
    weightDecay: num(values, 'weight-decay', { real: true, min: 0 }),
    ...(values.schedule ? { schedule: parseSchedule(values.schedule) } : {}),
    ...(classes ? { classes } : {}),
    ...dataDirOption(values),
  };
}

/** `train`: Ctrl-C stops after the current step with a checkpoint (exit 130); a second one quits at once. */
export const trainCli: CliCommand = {
  name: 'train',
  flags: TRAIN_FLAGS,
  usage: TRAIN_USAGE,
  needsBackend: true,
  async run(argv: readonly string[], { logger, backend }: CliContext): Promise<number> {
    const options = trainOptions(argv);
    const controller = new AbortController();
    const quitNow = () => process.exit(130);
    const onSigint = () => {
      process.stderr.write('\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)\n');
      controller.abort();
      process.once('SIGINT', quitNow);
    };
    process.once('SIGINT', onSigint);
    try {
      const result = await trainCommand({
        ...options,
        signal: controller.signal,
        logger,
        progress: progressBar(),
        ...(backend ? { backend } : {}),
      });
      const how = result.stoppedBy === 'signal' ? 'interrupted' : 'finished';
      process.stdout.write(`${how} at step ${result.step}; checkpoint ${result.checkpoint}\n`);
      if (result.stoppedBy === 'signal') process.stdout.write(`continue with: train --out ${result.runDir} --resume\n`);
      return result.stoppedBy === 'signal' ? 130 : 0;
    } finally {
      process.removeListener('SIGINT', onSigint);
      process.removeListener('SIGINT', quitNow);
    }
  },
};

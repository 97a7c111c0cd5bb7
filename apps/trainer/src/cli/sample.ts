import { type SampleCommandOptions, sampleCommand } from '../commands/sample.js';
import type { CliCommand } from './command.js';
import { num, parseFlags, requiredPath, samplerOption, stepSizeOption } from './flags.js';

export const SAMPLE_FLAGS = {
  run: { type: 'string' },
  out: { type: 'string' },
  n: { type: 'string' },
  steps: { type: 'string' },
  sampler: { type: 'string' },
  'step-size': { type: 'string' },
  guidance: { type: 'string' },
  step: { type: 'string' },
  seed: { type: 'string' },
} as const;

export const SAMPLE_USAGE = `  sample    --run runs/<name> --out grid.png [--n N] [--steps N] [--sampler S] [--guidance G]
            [--step-size E] [--step N] [--seed S]`;

/** What the usage says of the flags evaluate and sample share beyond their own lines. */
export const SAMPLING_NOTES = `--sampler S (evaluate, sample): ddim or dpm-solver++ for diffusion runs; langevin (annealed Langevin)
or ancestral (ancestral steps between noise levels, with the run's Langevin corrector steps) for
score-matching energy runs; default: the run's own.
--step-size E (evaluate, sample; score-matching energy runs only) sets annealed Langevin's step
size ε, the step at the smallest noise level σ_L (level i steps ε·σᵢ²/σ_L²); default: the run's own.`;

export function sampleOptions(argv: readonly string[]): SampleCommandOptions {
  const values = parseFlags(argv, SAMPLE_FLAGS);
  return {
    run: requiredPath(values, 'run'),
    out: requiredPath(values, 'out'),
    n: num(values, 'n'),
    seed: num(values, 'seed', { min: 0 }),
    steps: num(values, 'steps'),
    ...samplerOption(values),
    ...stepSizeOption(values),
    guidance: num(values, 'guidance', { real: true }),
    step: num(values, 'step', { min: 0 }),
  };
}

export const sampleCli: CliCommand = {
  name: 'sample',
  flags: SAMPLE_FLAGS,
  usage: SAMPLE_USAGE,
  needsBackend: true,
  async run(argv, { logger }) {
    const result = await sampleCommand({ ...sampleOptions(argv), logger });
    process.stdout.write(`wrote ${result.path} (step ${result.step})\n`);
    return 0;
  },
};

import { type SampleCommandOptions, sampleCommand } from '../commands/sample.js';
import type { CliCommand } from './command.js';
import { num, parseFlags, requiredPath, samplerOption } from './flags.js';

export const SAMPLE_FLAGS = {
  run: { type: 'string' },
  out: { type: 'string' },
  n: { type: 'string' },
  steps: { type: 'string' },
  sampler: { type: 'string' },
  guidance: { type: 'string' },
  step: { type: 'string' },
  seed: { type: 'string' },
} as const;

export const SAMPLE_USAGE = `  sample    --run runs/<name> --out grid.png [--n N] [--steps N] [--sampler ddim|dpm-solver++] [--guidance G]
            [--step N] [--seed S]`;

export function sampleOptions(argv: readonly string[]): SampleCommandOptions {
  const values = parseFlags(argv, SAMPLE_FLAGS);
  return {
    run: requiredPath(values, 'run'),
    out: requiredPath(values, 'out'),
    n: num(values, 'n'),
    seed: num(values, 'seed', { min: 0 }),
    steps: num(values, 'steps'),
    ...samplerOption(values),
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

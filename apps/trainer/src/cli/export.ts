import { type ExportCommandOptions, exportCommand } from '../commands/export.js';
import type { CliCommand } from './command.js';
import { dataDirOption, num, parseFlags, requiredPath, samplerOption, stepSizeOption } from './flags.js';

export const EXPORT_FLAGS = {
  run: { type: 'string' },
  to: { type: 'string' },
  step: { type: 'string' },
  force: { type: 'boolean' },
  'data-dir': { type: 'string' },
  'step-size': { type: 'string' },
  sampler: { type: 'string' },
  'sample-steps': { type: 'string' },
  guidance: { type: 'string' },
  'guidance-rescale': { type: 'string' },
  'flip-average': { type: 'boolean' },
} as const;

export const EXPORT_USAGE =
  '  export    --run runs/<name> --to <models dir>/<id> [--step N] [--force] [--data-dir DIR (energy)]\n            [--sampler S] [--sample-steps N] [--step-size E (score-matching energy)]\n            [--guidance G] [--guidance-rescale R] (class-conditional diffusion): the served defaults\n            [--flip-average] (classifier): serve and evaluate the mean over each image and its mirror image';

export function exportOptions(argv: readonly string[]): ExportCommandOptions {
  const values = parseFlags(argv, EXPORT_FLAGS);
  const step = num(values, 'step', { min: 0 });
  const sampleSteps = num(values, 'sample-steps');
  const guidance = num(values, 'guidance', { real: true, min: 0 });
  const guidanceRescale = num(values, 'guidance-rescale', { real: true, min: 0 });
  return {
    run: requiredPath(values, 'run'),
    to: requiredPath(values, 'to'),
    force: values.force === true,
    ...dataDirOption(values),
    ...stepSizeOption(values),
    ...samplerOption(values),
    ...(step !== undefined ? { step } : {}),
    ...(sampleSteps !== undefined ? { sampleSteps } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
    ...(guidanceRescale !== undefined ? { guidanceRescale } : {}),
    ...(values['flip-average'] === true ? { flipAverage: true } : {}),
  };
}

export const exportCli: CliCommand = {
  name: 'export',
  flags: EXPORT_FLAGS,
  usage: EXPORT_USAGE,
  needsBackend: true,
  async run(argv, { logger }) {
    const result = await exportCommand({ ...exportOptions(argv), logger });
    process.stdout.write(`exported step ${result.step} to ${result.path}\n`);
    return 0;
  },
};

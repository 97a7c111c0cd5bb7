import { ValidationError } from '@lab/core';
import {
  type ClassifierEvaluationOptions,
  type EvaluateCommandOptions,
  evaluateClassifierCommand,
  evaluateCommand,
} from '../commands/evaluate.js';
import type { CliCommand } from './command.js';
import { atBase, dataDirOption, num, parseFlags, requiredPath, samplerOption, stepSizeOption } from './flags.js';

export const EVALUATE_FLAGS = {
  run: { type: 'string' },
  n: { type: 'string' },
  classifier: { type: 'string' },
  'real-n': { type: 'string' },
  'kid-subset': { type: 'string' },
  'test-n': { type: 'string' },
  batch: { type: 'string' },
  'sample-steps': { type: 'string' },
  sampler: { type: 'string' },
  'step-size': { type: 'string' },
  guidance: { type: 'string' },
  'guidance-rescale': { type: 'string' },
  'flip-average': { type: 'boolean' },
  step: { type: 'string' },
  seed: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export const EVALUATE_USAGE = `  evaluate  --run runs/<name> [--n N] [--classifier <classifier run or export>] [--real-n N] [--kid-subset N]
            [--test-n N] [--batch B] [--sample-steps N] [--sampler S] [--guidance G] [--guidance-rescale R]
            [--step N] [--step-size E] [--seed S] [--data-dir DIR] [--flip-average (a classifier run)]
  evaluate  --classifier <classifier run or export> [--test-n N] [--batch B] [--data-dir DIR]
            (test-set accuracy only)`;

/** The flags of a run's evaluation that a classifier's accuracy has no use for. */
const RUN_ONLY_FLAGS = [
  'n',
  'real-n',
  'kid-subset',
  'sample-steps',
  'sampler',
  'step-size',
  'guidance',
  'guidance-rescale',
  'flip-average',
  'step',
  'seed',
] as const;

/**
 * The evaluate command's options: a run's generative evaluation, or with `--classifier` and no
 * `--run`, a classifier's test-set accuracy.
 */
export function evaluateOptions(
  argv: readonly string[],
):
  | { readonly accuracyOnly: true; readonly options: ClassifierEvaluationOptions }
  | { readonly accuracyOnly: false; readonly options: EvaluateCommandOptions } {
  const values = parseFlags(argv, EVALUATE_FLAGS);
  if (!values.run && values.classifier) {
    const generative = RUN_ONLY_FLAGS.filter((flag) => values[flag] !== undefined);
    if (generative.length > 0)
      throw new ValidationError(
        `${generative.map((flag) => `--${flag}`).join(', ')} ${generative.length === 1 ? 'applies' : 'apply'} to a run's evaluation (--run); --classifier alone measures test accuracy`,
      );
    return {
      accuracyOnly: true,
      options: {
        classifier: atBase(values.classifier),
        testCount: num(values, 'test-n'),
        batch: num(values, 'batch'),
        ...dataDirOption(values),
      },
    };
  }
  return {
    accuracyOnly: false,
    options: {
      run: requiredPath(values, 'run'),
      n: num(values, 'n', { min: 2 }),
      realCount: num(values, 'real-n', { min: 2 }),
      kidSubset: num(values, 'kid-subset', { min: 2 }),
      testCount: num(values, 'test-n'),
      batch: num(values, 'batch'),
      seed: num(values, 'seed', { min: 0 }),
      sampleSteps: num(values, 'sample-steps'),
      ...samplerOption(values),
      ...stepSizeOption(values),
      guidance: num(values, 'guidance', { real: true }),
      guidanceRescale: num(values, 'guidance-rescale', { real: true }),
      step: num(values, 'step', { min: 0 }),
      ...(values['flip-average'] === true ? { flipAverage: true } : {}),
      ...(values.classifier ? { classifier: atBase(values.classifier) } : {}),
      ...dataDirOption(values),
    },
  };
}

export const evaluateCli: CliCommand = {
  name: 'evaluate',
  flags: EVALUATE_FLAGS,
  usage: EVALUATE_USAGE,
  needsBackend: true,
  async run(argv, { logger }) {
    const parsed = evaluateOptions(argv);
    if (parsed.accuracyOnly) {
      const accuracy = await evaluateClassifierCommand({ ...parsed.options, logger });
      process.stdout.write(`${accuracy.table}\n`);
      return 0;
    }
    const report = await evaluateCommand({ ...parsed.options, logger });
    process.stdout.write(`${report.table}\n`);
    process.stdout.write(`(step ${report.step}; features: ${report.features}; written to ${report.file})\n`);
    return 0;
  },
};

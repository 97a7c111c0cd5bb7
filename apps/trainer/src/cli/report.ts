import { type ReportCommandOptions, reportCommand } from '../commands/report.js';
import type { CliCommand } from './command.js';
import { atBase, num, parseFlags, requiredPath } from './flags.js';

export const REPORT_FLAGS = {
  run: { type: 'string' },
  samples: { type: 'string' },
  'svg-dir': { type: 'string' },
} as const;

export const REPORT_USAGE =
  '  report    --run runs/<name> [--samples N] [--svg-dir D]   (writes runs/<name>/report.html: curves, evaluations, samples; --svg-dir: each chart as D/<chart>.svg too)';

export function reportOptions(argv: readonly string[]): ReportCommandOptions {
  const values = parseFlags(argv, REPORT_FLAGS);
  const svgDir = values['svg-dir'];
  return { run: requiredPath(values, 'run'), samples: num(values, 'samples'), ...(svgDir === undefined ? {} : { svgDir: atBase(svgDir) }) };
}

/** `report`: reads files and draws charts, so it needs no tfjs backend. */
export const reportCli: CliCommand = {
  name: 'report',
  flags: REPORT_FLAGS,
  usage: REPORT_USAGE,
  needsBackend: false,
  async run(argv, { logger }) {
    const result = await reportCommand({ ...reportOptions(argv), logger });
    process.stdout.write(`wrote ${result.file} (step ${result.step}, ${result.charts} charts)\n`);
    for (const file of result.svgFiles) process.stdout.write(`wrote ${file}\n`);
    return 0;
  },
};

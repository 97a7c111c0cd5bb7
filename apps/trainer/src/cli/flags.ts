import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ValidationError } from '@lab/core';
import { TRAINER_SAMPLERS, type TrainerSamplerName } from '../tasks/types.js';

export type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

/** The flags every command takes. */
export const GLOBAL_FLAGS = {
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export type ParsedFlags<F extends FlagSpecs> = ReturnType<
  typeof parseArgs<{ args: string[]; options: F & typeof GLOBAL_FLAGS; allowPositionals: true; strict: true }>
>['values'];

/** Parses one command's argv strictly against its own flags plus the global ones. */
export function parseFlags<F extends FlagSpecs>(argv: readonly string[], flags: F): ParsedFlags<F> {
  return parseArgs({ args: [...argv], options: { ...flags, ...GLOBAL_FLAGS }, allowPositionals: true, strict: true }).values;
}

/** A numeric flag: integer unless `real`, and ≥ `min` (default 1 for integers, 0 for reals). */
export function num(values: FlagValues, name: string, options: { real?: boolean; min?: number } = {}): number | undefined {
  const real = options.real ?? false;
  const min = options.min ?? (real ? 0 : 1);
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(value) || (!real && !Number.isInteger(value)) || value < min) {
    throw new ValidationError(`--${name} must be ${real ? 'a number' : 'an integer'} ≥ ${min}, got '${String(raw)}'`);
  }
  return value;
}

/**
 * Paths on the command line are relative to the workspace root when nx runs the CLI (its npm
 * scripts run inside apps/trainer, but `--out runs/x` should mean <repo>/runs/x), else to the cwd.
 */
export function atBase(path: string): string {
  return resolve(process.env.NX_WORKSPACE_ROOT || process.cwd(), path);
}

/** A path flag the command cannot do without. */
export function requiredPath(values: FlagValues, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || !value) throw new ValidationError(`--${name} is required`);
  return atBase(value);
}

/** `{ dataDir }` when `--data-dir` is given (a path from the workspace root), else nothing. */
export function dataDirOption(values: FlagValues): { dataDir?: string } {
  const value = values['data-dir'];
  return typeof value === 'string' && value ? { dataDir: atBase(value) } : {};
}

/** `{ stepSize }` when `--step-size` is given (a number > 0; score-matching energy runs only), else nothing. */
export function stepSizeOption(values: FlagValues): { stepSize?: number } {
  const raw = values['step-size'];
  if (raw === undefined) return {};
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || !(value > 0))
    throw new ValidationError(`--step-size must be a number > 0, got '${String(raw)}'`);
  return { stepSize: value };
}

/**
 * `{ sampler }` when `--sampler` is given, else nothing: a name some run takes (ddim or dpm-solver++
 * for diffusion, langevin or ancestral for score-matching energy; the command checks the run).
 */
export function samplerOption(values: FlagValues): { sampler?: TrainerSamplerName } {
  const value = values.sampler;
  if (value === undefined) return {};
  if (typeof value !== 'string' || !(TRAINER_SAMPLERS as readonly string[]).includes(value))
    throw new ValidationError(`--sampler must be one of ${TRAINER_SAMPLERS.join(', ')}, got '${String(value)}'`);
  return { sampler: value as TrainerSamplerName };
}

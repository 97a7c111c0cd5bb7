import { ValidationError } from '@lab/core';
import { DDIMSampler, type DDIMSamplerOptions } from './ddim.js';
import { DDPMSampler, type DDPMSamplerOptions } from './ddpm.js';
import { DPMSolverMultistepSampler } from './dpm-solver.js';
import type { Sampler, SamplerOptions } from './sampler.js';
import type { NoiseSchedule } from './schedule.js';

/** A sampler described by data (e.g. from an API request or a checkpoint manifest). */
export type SamplerSpec =
  | ({ readonly kind: 'ddpm' } & DDPMSamplerOptions)
  | ({ readonly kind: 'ddim' } & DDIMSamplerOptions)
  | ({ readonly kind: 'dpm-solver++' } & SamplerOptions);

/** Builds a DDPM, DDIM or DPM-Solver++(2M) sampler over `schedule` from a plain description. */
export function createSampler(schedule: NoiseSchedule, spec: SamplerSpec): Sampler {
  if (spec.kind === 'ddpm') return new DDPMSampler(schedule, spec);
  if (spec.kind === 'ddim') return new DDIMSampler(schedule, spec);
  if (spec.kind === 'dpm-solver++') return new DPMSolverMultistepSampler(schedule, spec);
  throw new ValidationError(
    `Unknown sampler kind '${String((spec as { kind: unknown }).kind)}' (expected 'ddpm', 'ddim' or 'dpm-solver++')`,
  );
}

import { ValidationError } from '@lab/core';

/** Energy models are sampled by Langevin dynamics, which has no classifier-free guidance: any scale but 1 is an error. */
export function checkNoGuidance(guidance: number | undefined): void {
  if (guidance !== undefined && guidance !== 1)
    throw new ValidationError('guidance needs a class-conditional diffusion model; energy models are sampled without it');
}

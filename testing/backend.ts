import { type BackendName, selectBackend } from '@lab/core';

/**
 * The backend the model suites (embeddings, unet, energy, samplers, trainer) run on:
 * tfjs-backend-cpu, or LibTorch with `GENLAB_BACKEND=torch` (`npm run test:torch`), where the
 * same assertions — closed forms, finite differences, float64 references — must hold.
 * Read once at import, before any test changes the environment.
 */
export const TEST_BACKEND: BackendName = process.env.GENLAB_BACKEND?.trim().toLowerCase() === 'torch' ? 'torch' : 'cpu';

/** Activates `TEST_BACKEND` (with genlab's kernels for it); returns tfjs's name for it. */
export async function useTestBackend(): Promise<string> {
  return (await selectBackend({ force: TEST_BACKEND })).tfBackend;
}

import '@tensorflow/tfjs-backend-cpu';
import { useTestBackend } from '../../../testing/backend.js';

/** Every test file runs on the cpu backend (deterministic, always available), or on torch (`npm run test:torch`). */
export async function useCpuBackend(): Promise<void> {
  await useTestBackend();
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

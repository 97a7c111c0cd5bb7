/**
 * `@lab/backend-torch`: a TensorFlow.js backend named 'torch' whose tensors and kernels are
 * LibTorch's (ATen, oneDNN and the system BLAS on CPU; CUDA when LibTorch has it). Importing
 * this module registers the backend and its kernels with tfjs; the native addon loads only
 * when the backend is first used, so importing never fails on machines without LibTorch.
 */
import { registerBackend, registerKernel } from '@tensorflow/tfjs-core';
import { TorchBackend } from './backend.js';
import { TORCH, torchKernels } from './kernels/index.js';
import { loadNative, type TorchFacts, TorchUnavailableError } from './native.js';
import { loadedBlasLibraries, settingsFromEnv, type TorchSettings } from './settings.js';

export { TorchBackend } from './backend.js';
export { TORCH, torchKernels } from './kernels/index.js';
export { loadNative, type TorchFacts, type TorchNative, TorchUnavailableError } from './native.js';
export { loadedBlasLibraries, settingsFromEnv, type TorchSettings } from './settings.js';

/** What `torchStatus()` reports when the backend can run. */
export interface TorchReady {
  readonly available: true;
  readonly facts: TorchFacts;
  readonly settings: TorchSettings;
  /** e.g. "LibTorch 1.13.0, cpu, 2 threads, oneDNN, BLAS libopenblasp-r0.3.21.so". */
  readonly detail: string;
}

export type TorchStatus = TorchReady | { readonly available: false; readonly reason: string };

let configured: TorchReady | undefined;

/**
 * glibc thresholds for `malloc: 'retain'`: blocks up to 32 MiB (glibc's largest mmap threshold)
 * come from the heap, and up to 2 GiB of free heap top is kept (mallopt takes an int). Measured
 * (bench/README.md): unet-tiny's training step lost ~45k page faults and ~14 % of its CPU time.
 */
const RETAIN_MMAP_THRESHOLD = 32 * 1024 * 1024;
const RETAIN_TRIM_THRESHOLD = 2 ** 31 - 1;

/**
 * Loads the addon and applies the thread and device settings (from the environment, or
 * `overrides`). Throws `TorchUnavailableError` or `RangeError` naming the problem.
 */
export function configureTorch(overrides: Partial<TorchSettings> = {}, env: Record<string, string | undefined> = process.env): TorchReady {
  const native = loadNative();
  const settings = { ...settingsFromEnv(env, native.facts().cuda), ...overrides };
  native.setNumThreads(settings.threads);
  native.setDevice(settings.device);
  const blasSet = native.setBlasThreads(settings.blasThreads);
  const retained = settings.malloc === 'retain' && native.retainFreedMemory(RETAIN_MMAP_THRESHOLD, RETAIN_TRIM_THRESHOLD);
  const facts = native.facts();
  const blas = loadedBlasLibraries();
  const detail = [
    `LibTorch ${facts.torchVersion}`,
    settings.device,
    `${settings.threads} thread${settings.threads === 1 ? '' : 's'}`,
    ...(facts.mkldnn ? ['oneDNN'] : []),
    ...(blas.length > 0
      ? [`BLAS ${blas.join(', ')}${blasSet ? ` (${settings.blasThreads} thread${settings.blasThreads === 1 ? '' : 's'})` : ''}`]
      : []),
    ...(retained ? ['malloc retain'] : []),
  ].join(', ');
  configured = { available: true, facts, settings, detail };
  return configured;
}

/** Whether the backend can run here and, if not, why (never throws). */
export function torchStatus(): TorchStatus {
  try {
    return configured ?? configureTorch();
  } catch (error) {
    return { available: false, reason: error instanceof TorchUnavailableError ? error.reason : (error as Error).message };
  }
}

for (const kernel of torchKernels) registerKernel(kernel);
registerBackend(TORCH, () => {
  if (configured === undefined) configureTorch();
  return new TorchBackend(loadNative());
});

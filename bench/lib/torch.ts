import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { arch } from 'node:os';
import type { StepTiming } from './measure.js';
import type { ModelSpec } from './workloads.js';

/** Debian's python, where `python3-torch` lives (a venv's python would not see it). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface TorchConfig {
  torch: string;
  threads: number;
  /** The BLAS shared objects the process mapped. */
  blas: string;
  /** Measured 1024² sgemm speed: ~3.6 with the reference BLAS, far more with OpenBLAS. */
  matmulGflops: number;
  ldLibraryPath: string;
  mallocMmapThreshold: string;
  mallocTrimThreshold: string;
}

export interface TorchResult {
  framework: 'torch';
  params: number;
  tfjsParams: number;
  train: StepTiming;
  infer: StepTiming;
  peakRssMiB: number;
  config: TorchConfig;
}

/** True when Debian's `python3-torch` imports. */
export function torchAvailable(): boolean {
  if (!existsSync(SYSTEM_PYTHON)) return false;
  return spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

/** Debian's multi-threaded OpenBLAS folder (`libopenblas0-pthread`), if installed. */
export function openBlasDir(): string | undefined {
  const triplet = arch() === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const dir = `/usr/lib/${triplet}/openblas-pthread`;
  return existsSync(`${dir}/libblas.so.3`) ? dir : undefined;
}

/**
 * The environment of a fair PyTorch reference (issue 8): Debian's torch defaults to the
 * reference BLAS and 1 thread; OpenBLAS (pthread) on LD_LIBRARY_PATH, 2 threads, and glibc
 * malloc thresholds that stop it returning big buffers to the OS on every step.
 */
export function torchEnv(threads: number): NodeJS.ProcessEnv {
  const blas = openBlasDir();
  return {
    ...process.env,
    ...(blas ? { LD_LIBRARY_PATH: [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : {}),
    MALLOC_MMAP_THRESHOLD_: '4294967296',
    MALLOC_TRIM_THRESHOLD_: '68719476736',
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
  };
}

/** Arguments for bench/torch/bench_torch.py. */
export function torchArgs(
  script: string,
  spec: ModelSpec,
  options: {
    trainBatch: number;
    inferBatch: number;
    threads: number;
    warmupSteps: number;
    warmupS: number;
    warmupTargetSteps: number;
    warmupMaxS: number;
    budgetS: number;
    maxSteps: number;
  },
): string[] {
  return [
    script,
    '--spec',
    JSON.stringify(spec),
    '--train-batch',
    String(options.trainBatch),
    '--infer-batch',
    String(options.inferBatch),
    '--threads',
    String(options.threads),
    '--warmup-steps',
    String(options.warmupSteps),
    '--warmup-s',
    String(options.warmupS),
    '--warmup-target-steps',
    String(options.warmupTargetSteps),
    '--warmup-max-s',
    String(options.warmupMaxS),
    '--budget-s',
    String(options.budgetS),
    '--iters',
    String(options.maxSteps),
  ];
}

/** What `bench/lib/torch-status.ts` prints: `torchStatus()` of `@lab/backend-torch`. */
export type TfjsTorchStatus =
  | { available: true; detail: string; settings: { threads: number; device: string } }
  | { available: false; reason: string };

/**
 * The environment of a tfjs-torch case: the PyTorch rows' own (same BLAS on LD_LIBRARY_PATH,
 * same thread counts, same malloc thresholds), LibTorch's intra-op threads through
 * GENLAB_TORCH_THREADS, and the CPU unless GENLAB_TORCH_DEVICE says otherwise (the PyTorch
 * reference runs on the CPU).
 */
export function tfjsTorchEnv(threads: number): NodeJS.ProcessEnv {
  return {
    ...torchEnv(threads),
    GENLAB_TORCH_THREADS: String(threads),
    GENLAB_TORCH_DEVICE: process.env.GENLAB_TORCH_DEVICE || 'cpu',
  };
}

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** How the torch backend runs: LibTorch intra-op threads and the device new tensors go to. */
export interface TorchSettings {
  /** Intra-op threads (default: `GENLAB_TORCH_THREADS`, else every core). */
  readonly threads: number;
  /** 'cpu', 'cuda' or 'cuda:N' (default: `GENLAB_TORCH_DEVICE`, else CUDA when LibTorch has it). */
  readonly device: string;
  /**
   * 'retain' (default): freed memory stays in the process for the next step (glibc's mmap and
   * trim thresholds raised); 'system': glibc's defaults, which hand big blocks back to the kernel
   * and fault them in again every step. From `GENLAB_TORCH_MALLOC`.
   */
  readonly malloc: 'retain' | 'system';
  /**
   * OpenBLAS's own threads (default 1, from `GENLAB_TORCH_BLAS_THREADS`): LibTorch already runs
   * `threads` OpenMP threads, and a second pool spinning beside them slows every step.
   */
  readonly blasThreads: number;
}

/** Reads `GENLAB_TORCH_THREADS` / `GENLAB_TORCH_DEVICE`, throwing on values that make no sense. */
export function settingsFromEnv(env: Record<string, string | undefined>, cudaAvailable: boolean): TorchSettings {
  const threadsValue = env.GENLAB_TORCH_THREADS?.trim();
  let threads = availableParallelism();
  if (threadsValue) {
    threads = Number(threadsValue);
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`GENLAB_TORCH_THREADS must be a whole number ≥ 1, not '${threadsValue}'`);
  }
  const deviceValue = env.GENLAB_TORCH_DEVICE?.trim().toLowerCase();
  const device = deviceValue || (cudaAvailable ? 'cuda' : 'cpu');
  if (!/^(cpu|cuda(:\d+)?)$/.test(device)) throw new RangeError(`GENLAB_TORCH_DEVICE must be cpu, cuda or cuda:N, not '${deviceValue}'`);
  const mallocValue = env.GENLAB_TORCH_MALLOC?.trim().toLowerCase();
  const malloc = mallocValue || 'retain';
  if (malloc !== 'retain' && malloc !== 'system')
    throw new RangeError(`GENLAB_TORCH_MALLOC must be retain or system, not '${mallocValue}'`);
  const blasValue = env.GENLAB_TORCH_BLAS_THREADS?.trim();
  const blasThreads = blasValue ? Number(blasValue) : 1;
  if (!Number.isInteger(blasThreads) || blasThreads < 1)
    throw new RangeError(`GENLAB_TORCH_BLAS_THREADS must be a whole number ≥ 1, not '${blasValue}'`);
  return { threads, device, malloc, blasThreads };
}

/** `GENLAB_TORCH_THREADS`, or every core. */
export function threadsFromEnv(env: Record<string, string | undefined>): number {
  const value = env.GENLAB_TORCH_THREADS?.trim();
  if (!value) return availableParallelism();
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`GENLAB_TORCH_THREADS must be a whole number ≥ 1, not '${value}'`);
  return threads;
}

/** The BLAS libraries mapped into this process (Linux), e.g. ['libopenblasp-r0.3.21.so']. */
export function loadedBlasLibraries(): string[] {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const names = new Set<string>();
    for (const line of maps.split('\n')) {
      const path = line.slice(line.indexOf('/'));
      const name = path.slice(path.lastIndexOf('/') + 1);
      if (line.includes('/') && /blas|mkl_rt|libmkl|accelerate|libflexiblas/i.test(name)) names.add(name);
    }
    return [...names].sort();
  } catch {
    return [];
  }
}

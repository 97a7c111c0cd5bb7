import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { threadsFromEnv } from './settings.js';

/** What the C++ addon (native/addon.cc) exports. Tensors are integer ids into its slot table. */
export interface TorchNative {
  fromArray(values: Float32Array | Int32Array | Uint8Array, shape: readonly number[], dtype: string): number;
  toArray(id: number): Float32Array | Int32Array | Uint8Array | Float64Array | BigInt64Array;
  /** A float32 tensor of normal draws continuing an Alea state (src/kernels/alea.ts), as tf.randomNormal draws them. */
  aleaNormal(shape: readonly number[], state: readonly [number, number, number, number], mean: number, std: number): number;
  /**
   * Adam for every variable in one pass over each one's memory (CPU float32): new tensors
   * `[m'…, v'…, w'…]`; `hyper` is `[lr, β₁, β₂, ε]`, and β₁ᵗ, β₂ᵗ are float32 scalar tensors
   * (the optimizer's accBeta1 and accBeta2: read by the kernel, so a replayed step sees each step's).
   */
  adamUpdate(
    values: readonly number[],
    gradients: readonly number[],
    ms: readonly number[],
    vs: readonly number[],
    hyper: readonly number[],
    beta1Power: number,
    beta2Power: number,
  ): number[];
  /**
   * Group norm of a CPU float32 NHWC tensor in two passes over its memory: `[y, mean, rstd]`, the
   * statistics `[N, groups]` (as `native_group_norm` returns them).
   */
  groupNormNhwc(x: number, gamma: number, beta: number, groups: number, epsilon: number): [number, number, number];
  /** A CPU float32 NHWC tensor with zero rows and columns added `[top, bottom, left, right]` (a new tensor). */
  padNhwc(x: number, padding: readonly [number, number, number, number]): number;
  dispose(...ids: number[]): void;
  /** `[dtypeCode, ...shape]`; codes in `DTYPE_CODES`. */
  meta(id: number): number[];
  /**
   * Where `call` describes its result when that is one tensor: `[id, dtypeCode, rank, ...sizes]`
   * (id −1 once another tensor has been made), so that `meta` need not be called for it.
   */
  setLastResultBuffer(buffer: Int32Array): void;
  /** An index for `call`; throws when LibTorch has no such operator. */
  op(name: string, overload: string): number;
  call(op: number, args: readonly unknown[]): unknown;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  setDevice(device: string): void;
  facts(): TorchFacts;
  liveTensors(): number;
  /** glibc's mallopt(M_MMAP_THRESHOLD, M_TRIM_THRESHOLD); false where it did not take (or off glibc). */
  retainFreedMemory(mmapThreshold: number, trimThreshold: number): boolean;
  /** openblas_set_num_threads, when LibTorch's BLAS is OpenBLAS; false otherwise. */
  setBlasThreads(threads: number): boolean;
  /** Records what the calls that follow do (native/capture.h), until `captureEnd` or `captureAbort`. */
  captureBegin(): void;
  /**
   * Ends a recording. Slots: every variable's before the step and now, the step's inputs and
   * results. `variables`: indices (into those lists) of the variables the program reads or writes,
   * in the order `replay` takes their slots.
   */
  captureEnd(
    variablesBefore: readonly number[],
    variablesAfter: readonly number[],
    inputs: readonly number[],
    outputs: readonly number[],
  ): { program: number; variables: number[]; calls: number };
  captureAbort(): void;
  /** Runs a captured step; each variable it updates gets its new value in the slot given. New ids of its results. */
  replay(program: number, variables: readonly number[], inputs: readonly number[]): number[];
  /** Why two captures of one step differ ('' when they do not). */
  programDifference(a: number, b: number): string;
  programDispose(program: number): void;
}

export interface TorchFacts {
  readonly torchVersion: string;
  readonly cuda: boolean;
  readonly cudaDevices: number;
  readonly mkldnn: boolean;
  readonly openmp: boolean;
  readonly device: string;
  readonly parallelInfo: string;
  readonly config: string;
}

/** Every function `TorchNative` declares: an addon built by an older version lacks some. */
export const NATIVE_FUNCTIONS = [
  'fromArray',
  'toArray',
  'aleaNormal',
  'adamUpdate',
  'groupNormNhwc',
  'padNhwc',
  'dispose',
  'meta',
  'setLastResultBuffer',
  'op',
  'call',
  'setNumThreads',
  'getNumThreads',
  'setDevice',
  'facts',
  'liveTensors',
  'retainFreedMemory',
  'setBlasThreads',
  'captureBegin',
  'captureEnd',
  'captureAbort',
  'replay',
  'programDifference',
  'programDispose',
] as const satisfies readonly (keyof TorchNative)[];
// Compile-time: the list names every function of the interface.
const namesEveryFunction: Exclude<keyof TorchNative, (typeof NATIVE_FUNCTIONS)[number]> extends never ? true : never = true;
void namesEveryFunction;

/** The functions of `TorchNative` that a loaded addon lacks (empty for a current build). */
export function missingNativeFunctions(addon: object): string[] {
  return NATIVE_FUNCTIONS.filter((name) => typeof (addon as Record<string, unknown>)[name] !== 'function');
}

/** The addon's dtype codes, in its order. */
export const DTYPE_CODES = ['float32', 'int32', 'bool', 'int64', 'float64', 'float16', 'uint8', 'other'] as const;

const addonPath = fileURLToPath(new URL('../build/Release/genlab_torch.node', import.meta.url));
const skippedPath = fileURLToPath(new URL('../build/skipped.json', import.meta.url));

/** Thrown when the addon is not built or cannot load; `reason` says why, for `initBackend`. */
export class TorchUnavailableError extends Error {
  override readonly name = 'TorchUnavailableError';
  constructor(readonly reason: string) {
    super(`@lab/backend-torch is unavailable: ${reason}`);
  }
}

let loaded: TorchNative | undefined;

/** Loads the addon once; throws `TorchUnavailableError` naming the cause (and how to build it). */
export function loadNative(): TorchNative {
  if (loaded !== undefined) return loaded;
  if (!existsSync(addonPath)) {
    let reason = 'the LibTorch addon is not built';
    if (existsSync(skippedPath)) {
      try {
        reason = `the LibTorch addon was not built at install: ${(JSON.parse(readFileSync(skippedPath, 'utf8')) as { reason: string }).reason}`;
      } catch {
        // keep the generic reason
      }
    }
    throw new TorchUnavailableError(`${reason} (build it with \`npm run build:native -w @lab/backend-torch\`)`);
  }
  // OpenMP (libgomp) reads OMP_NUM_THREADS once, when LibTorch loads. Left unset it starts with
  // one thread, and raising the count later (at::set_num_threads) leaves the extra threads
  // sleeping between parallel regions: measured here, 2 threads then trained energy-small at half
  // the speed of 1 thread, and at 2× that speed with OMP_NUM_THREADS=2 set before loading.
  if (!process.env.OMP_NUM_THREADS) process.env.OMP_NUM_THREADS = String(threadsFromEnv(process.env));
  try {
    const addon = createRequire(import.meta.url)(addonPath) as object;
    const missing = missingNativeFunctions(addon);
    if (missing.length > 0)
      throw new TorchUnavailableError(
        `the LibTorch addon was built from an older version of this package (it lacks ${missing.join(', ')}): rebuild it with \`npm run build:native -w @lab/backend-torch\``,
      );
    loaded = addon as TorchNative;
  } catch (error) {
    if (error instanceof TorchUnavailableError) throw error;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new TorchUnavailableError(`the LibTorch addon does not load: ${message}`);
  }
  return loaded;
}

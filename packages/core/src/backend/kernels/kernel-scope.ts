import { getKernel, type KernelBackend, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Calls other kernels of one backend from inside a kernel function, the way tfjs's own
 * backends compose kernels: straight to the kernel functions, bypassing the engine (no
 * tape, no tensor tracking). Every output it hands out is an intermediate to be freed by
 * `keep`, except the one kept as the result.
 */
export class KernelScope {
  private readonly intermediates: TensorInfo[] = [];

  constructor(
    private readonly backend: KernelBackend,
    private readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(kernelName, this.backendName);
    if (config === undefined) throw new Error(`Kernel '${kernelName}' is not registered for backend '${this.backendName}'`);
    const output = config.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(output) ? output[0] : output;
    if (info === undefined) throw new Error(`Kernel '${kernelName}' returned no output`);
    this.intermediates.push(info);
    return info;
  }

  /** Tracks an output produced outside `run` (e.g. by a captured stock kernel) as an intermediate. */
  adopt(info: TensorInfo): TensorInfo {
    this.intermediates.push(info);
    return info;
  }

  /** Frees every intermediate except `result` and returns `result`. */
  keep(result: TensorInfo): TensorInfo {
    for (const info of this.intermediates) if (info !== result) this.backend.disposeData(info.dataId);
    this.intermediates.length = 0;
    return result;
  }

  /** Frees every intermediate (on error paths). */
  disposeAll(): void {
    for (const info of this.intermediates) this.backend.disposeData(info.dataId);
    this.intermediates.length = 0;
  }
}

/** Runs `body` in a fresh scope; intermediates are freed whether it returns or throws. */
export function withKernelScope(backend: KernelBackend, backendName: string, body: (scope: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.keep(body(scope));
  } catch (error) {
    scope.disposeAll();
    throw error;
  }
}

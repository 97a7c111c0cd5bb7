import type { KernelBackend, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { withKernelScope } from './kernel-scope.js';

/**
 * `AddN` that never hands the stock kernel more than `maxInputs(backend)` tensors: longer lists
 * are summed in chunks, then the partial sums are summed the same way.
 *
 * tfjs-backend-webgpu's AddN binds every input as a storage buffer in one shader; WebGPU allows
 * `maxStorageBuffersPerShaderStage` (8 by default, one of them the output) per stage, so
 * `tf.addN` over the ~250 gradient norms of a UNet builds an invalid pipeline and returns garbage
 * without an error.
 */
export function createChunkedAddN(backendName: string, stock: KernelFunc, maxInputs: (backend: KernelBackend) => number): KernelFunc {
  return (args) => {
    const backend = args.backend as KernelBackend;
    const limit = Math.max(2, Math.floor(maxInputs(backend)));
    let level = args.inputs as unknown as TensorInfo[];
    if (level.length <= limit) return stock(args);
    const addChunk = (chunk: TensorInfo[]) => stock({ inputs: chunk as never, backend, attrs: {} }) as TensorInfo;
    return withKernelScope(backend, backendName, (scope) => {
      while (level.length > limit) {
        const next: TensorInfo[] = [];
        for (let i = 0; i < level.length; i += limit) {
          const chunk = level.slice(i, i + limit);
          // A lone leftover passes through as is (an input, or a partial sum the scope owns).
          next.push(chunk.length === 1 ? (chunk[0] as TensorInfo) : scope.adopt(addChunk(chunk)));
        }
        level = next;
      }
      return scope.adopt(addChunk(level));
    });
  };
}

/** The storage-buffer inputs one webgpu shader may bind: the device's limit less the output. */
export function webgpuAddNInputLimit(backend: KernelBackend): number {
  const limits = (backend as unknown as { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } }).device?.limits;
  return (limits?.maxStorageBuffersPerShaderStage ?? 8) - 1;
}

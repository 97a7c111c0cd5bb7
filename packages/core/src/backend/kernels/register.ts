// tfjs-core's Node bundle registers no gradient functions; tfjs-layers' bundle registers all
// of them (into tfjs's global registry) when imported. Training needs them.
import '@tensorflow/tfjs-layers';
import {
  AddN,
  BatchMatMul,
  Cast,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  Identity,
  type KernelFunc,
  Reverse,
  registerKernel,
  Slice,
  SplitV,
  Unpack,
  UnsortedSegmentSum,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { createTransposingBatchMatMul } from './batch-mat-mul.js';
import { createChunkedAddN, webgpuAddNInputLimit } from './chunked-add-n.js';
import { createConv2DBackpropFilter } from './conv2d-backprop-filter.js';
import { createConv2DBackpropInput } from './conv2d-backprop-input.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';
import {
  createWasmCast,
  createWasmIdentity,
  createWasmReverse,
  createWasmSlice,
  createWasmSplitV,
  createWasmUnpack,
} from './wasm-views.js';

/** Marks our kernels so that registering twice is a no-op and a stock kernel is kept as fallback. */
const MARK = Symbol.for('genlab.trainingKernel');
type MarkedKernelFunc = KernelFunc & { [MARK]?: true };

function isOurs(kernelName: string, backendName: string): boolean {
  return (getKernel(kernelName, backendName)?.kernelFunc as MarkedKernelFunc | undefined)?.[MARK] === true;
}

const stockKernels = new Map<string, KernelFunc>();

/**
 * The kernel tfjs itself registered for `kernelName` on `backendName` before genlab replaced
 * it (for comparisons and benchmarks); undefined when tfjs had none or nothing was replaced.
 */
export function getStockKernel(kernelName: string, backendName: string): KernelFunc | undefined {
  return (
    stockKernels.get(`${backendName}/${kernelName}`) ??
    (isOurs(kernelName, backendName) ? undefined : getKernel(kernelName, backendName)?.kernelFunc)
  );
}

function replaceKernel(kernelName: string, backendName: string, make: (stock: KernelFunc | undefined) => KernelFunc): void {
  if (isOurs(kernelName, backendName)) return;
  const stock = getKernel(kernelName, backendName);
  if (stock) stockKernels.set(`${backendName}/${kernelName}`, stock.kernelFunc);
  if (stock) unregisterKernel(kernelName, backendName);
  const kernelFunc = make(stock?.kernelFunc) as MarkedKernelFunc;
  kernelFunc[MARK] = true;
  registerKernel({ kernelName, backendName, kernelFunc, ...(stock?.setupFunc ? { setupFunc: stock.setupFunc } : {}) });
}

/** Which kernels `registerTrainingKernels` installed (or found installed) for a backend. */
export interface TrainingKernelReport {
  readonly backend: string;
  readonly kernels: readonly string[];
}

/**
 * Installs the gradient kernels genlab's models need on `backendName`:
 * - `wasm`: `Conv2DBackpropFilter` (absent in tfjs 4.22, so no conv net trains) and
 *   `UnsortedSegmentSum` (the gradient of `gather`, absent too); faster
 *   `Conv2DBackpropInput` (one XNNPACK conv instead of a scalar loop) and `BatchMatMul`
 *   with transposed operands (explicit transposes: the stock flags run ~9× slower); `Slice`,
 *   `Unpack` and `SplitV` that read the wasm heap in place (the stock ones copy the whole input
 *   per output: tf.unstack of attention tensors took 68% of a UNet sampling step), and
 *   `Identity`/same-dtype `Cast` that share memory instead of copying; `Reverse` of leading axes
 *   (the spatial flip of conv filters) as block copies;
 * - `cpu`: `Conv2DBackpropFilter`, replacing the stock scalar loop (~0.014 GFLOP/s) with
 *   one forward conv; the stock kernel stays as fallback for NCHW.
 * - `webgpu`: the same `Conv2DBackpropFilter` (the stock shader took 83 % of a UNet training
 *   step on an H200, docs/gpu.md; checked for correctness in Chromium's SwiftShader), and
 *   an `AddN` that sums long lists in chunks (the stock one binds every input in one shader and
 *   silently returns garbage beyond WebGPU's 8 storage buffers per stage).
 * Other backends are left alone. Idempotent. `initBackend` calls it.
 */
export function registerTrainingKernels(backendName: string): TrainingKernelReport {
  const kernels: string[] = [];
  if (backendName === 'wasm' || backendName === 'cpu' || backendName === 'webgpu') {
    replaceKernel(Conv2DBackpropFilter, backendName, (stock) => createConv2DBackpropFilter(backendName, stock));
    kernels.push(Conv2DBackpropFilter);
  }
  if (backendName === 'webgpu') {
    const stock = getStockKernel(AddN, backendName);
    if (stock !== undefined) {
      replaceKernel(AddN, backendName, () => createChunkedAddN(backendName, stock, webgpuAddNInputLimit));
      kernels.push(AddN);
    }
  }
  if (backendName === 'wasm') {
    if (!getKernel(UnsortedSegmentSum, backendName) || isOurs(UnsortedSegmentSum, backendName)) {
      replaceKernel(UnsortedSegmentSum, backendName, () => unsortedSegmentSumKernel);
      kernels.push(UnsortedSegmentSum);
    }
    for (const [name, make] of [
      [Conv2DBackpropInput, createConv2DBackpropInput],
      [BatchMatMul, createTransposingBatchMatMul],
      [Slice, (_: string, stock: KernelFunc) => createWasmSlice(stock)],
      [Unpack, (_: string, stock: KernelFunc) => createWasmUnpack(stock)],
      [SplitV, (_: string, stock: KernelFunc) => createWasmSplitV(stock)],
      [Identity, (_: string, stock: KernelFunc) => createWasmIdentity(stock)],
      [Cast, (_: string, stock: KernelFunc) => createWasmCast(stock)],
      [Reverse, (_: string, stock: KernelFunc) => createWasmReverse(stock)],
    ] as const) {
      const stock = getStockKernel(name, backendName);
      if (stock === undefined) continue;
      replaceKernel(name, backendName, () => make(backendName, stock));
      kernels.push(name);
    }
  }
  return { backend: backendName, kernels };
}

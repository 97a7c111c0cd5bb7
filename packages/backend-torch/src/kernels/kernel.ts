import { engine, type KernelConfig, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';

/** The tfjs backend name the kernels register under. */
export const TORCH = 'torch';

export type TorchKernelFunc = (backend: TorchBackend, inputs: NamedTensorInfoMap, attrs: NamedAttrMap) => TensorInfo | TensorInfo[];

/** A tfjs kernel config for the torch backend. */
export function torchKernel(kernelName: string, run: TorchKernelFunc): KernelConfig {
  return {
    kernelName,
    backendName: TORCH,
    kernelFunc: ({ inputs, backend, attrs }) => run(backend as TorchBackend, inputs, attrs ?? {}),
  };
}

/** Whether a gradient tape records the kernel being run (so what its gradient needs is worth keeping). */
export function tapeRecording(): boolean {
  return engine().state.gradientDepth > 0;
}

/** The named input, which tfjs guarantees present for the kernel's own inputs. */
export function input(inputs: NamedTensorInfoMap, name: string): TensorInfo {
  const info = inputs[name];
  if (info === undefined) throw new Error(`@lab/backend-torch: missing input '${name}'`);
  return info;
}

/** The inputs of a kernel with a variable number of them (Concat, Pack, AddN), in order. */
export function inputList(inputs: NamedTensorInfoMap): TensorInfo[] {
  return Object.values(inputs).filter((t): t is TensorInfo => t !== undefined);
}

/** Axes (possibly negative, or one number) as non-negative numbers, ascending. */
export function axesOf(axis: number | readonly number[] | null | undefined, rank: number): number[] {
  const list = axis == null ? [...Array(rank).keys()] : typeof axis === 'number' ? [axis] : [...axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** NHWC tensor id → an NCHW view of it (channels_last in LibTorch; no copy). */
export function toNchw(backend: TorchBackend, id: number): number {
  return backend.callTensor('aten::permute', [id, [0, 3, 1, 2]]);
}

/** NCHW tensor id → an NHWC view (contiguous when LibTorch produced channels_last). */
export function toNhwc(backend: TorchBackend, id: number): number {
  return backend.callTensor('aten::permute', [id, [0, 2, 3, 1]]);
}

/** Runs `make` on a view of `id`, then frees the view. */
export function withView<T>(backend: TorchBackend, view: number, make: (view: number) => T): T {
  try {
    return make(view);
  } finally {
    backend.free(view);
  }
}

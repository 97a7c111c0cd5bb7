import type { DataType, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import * as k from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { axesOf, input, torchKernel } from './kernel.js';

interface ReduceAttrs {
  axis?: number | number[];
  reductionIndices?: number | number[];
  keepDims: boolean;
}

/**
 * A reduction over `axis`. An empty axis list reduces nothing in tfjs, while ATen's
 * `dim=[]` means all dims, so it is a copy here. `over(x, dims)` reduces several dims at once.
 */
function reduction(
  kernelName: string,
  over: (b: TorchBackend, x: number, dims: number[], keepDims: boolean, info: TensorInfo) => number,
  outDtype?: (x: TensorInfo) => DataType,
): KernelConfig {
  return torchKernel(kernelName, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    // Max names its axes reductionIndices; the other reductions, axis.
    const { axis, reductionIndices, keepDims } = attrs as unknown as ReduceAttrs;
    const dims = axesOf(axis ?? reductionIndices, x.shape.length);
    const dtype = outDtype?.(x) ?? x.dtype;
    if (dims.length === 0) return b.output(b.callTensor('aten::clone', [b.id(x)]), dtype);
    return b.output(over(b, b.id(x), dims, keepDims, x), dtype);
  });
}

/** Reduces one dim at a time (ATen's any/all/prod take a single dim), innermost first. */
function oneDimAtATime(operator: string) {
  return (b: TorchBackend, x: number, dims: number[], keepDims: boolean): number => {
    let current = x;
    for (const dim of [...dims].reverse()) {
      const next = b.callTensor(operator, [current, dim, keepDims]);
      if (current !== x) b.free(current);
      current = next;
    }
    return current;
  };
}

function argReduction(kernelName: string, operator: string): KernelConfig {
  return torchKernel(kernelName, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const [dim] = axesOf((attrs as unknown as { axis: number }).axis, x.shape.length);
    return b.output(b.callTensor(operator, [b.id(x), dim, false]), 'int32');
  });
}

function cumulative(kernelName: string, operator: string): KernelConfig {
  return torchKernel(kernelName, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { axis, exclusive, reverse } = attrs as unknown as k.CumsumAttrs;
    const [dim] = axesOf(axis, x.shape.length);
    let source = b.id(x);
    const temps: number[] = [];
    if (reverse) {
      source = b.callTensor('aten::flip', [source, [dim]]);
      temps.push(source);
    }
    let out = b.callTensor(operator, [source, dim, x.dtype]);
    if (exclusive) {
      // Shift by one along dim: the identity element first, the last total dropped.
      const identity = kernelName === k.Cumsum ? 0 : 1;
      const pad = new Array<number>(2 * (x.shape.length - (dim as number))).fill(0);
      pad[pad.length - 2] = 1;
      pad[pad.length - 1] = -1;
      temps.push(out);
      out = b.callTensor('aten::constant_pad_nd', [out, pad, identity]);
    }
    if (reverse) {
      temps.push(out);
      out = b.callTensor('aten::flip', [out, [dim]]);
    }
    b.free(...temps);
    return b.output(out, x.dtype);
  });
}

const sumDtype = (x: TensorInfo): DataType => (x.dtype === 'float32' ? 'float32' : 'int32');

export const reduceKernels: KernelConfig[] = [
  // dtype given, or ATen sums int32 into int64.
  reduction(k.Sum, (b, x, dims, keepDims, info) => b.callTensor('aten::sum.dim_IntList', [x, dims, keepDims, sumDtype(info)]), sumDtype),
  reduction(
    k.Mean,
    (b, x, dims, keepDims) => b.callTensor('aten::mean.dim', [x, dims, keepDims, 'float32']),
    () => 'float32',
  ),
  reduction(k.Max, (b, x, dims, keepDims) => b.callTensor('aten::amax', [x, dims, keepDims])),
  reduction(k.Min, (b, x, dims, keepDims) => b.callTensor('aten::amin', [x, dims, keepDims])),
  reduction(k.Prod, oneDimAtATime('aten::prod.dim_int'), sumDtype),
  reduction(k.Any, oneDimAtATime('aten::any.dim'), () => 'bool'),
  reduction(k.All, oneDimAtATime('aten::all.dim'), () => 'bool'),
  argReduction(k.ArgMax, 'aten::argmax'),
  argReduction(k.ArgMin, 'aten::argmin'),
  cumulative(k.Cumsum, 'aten::cumsum'),
  cumulative(k.Cumprod, 'aten::cumprod'),
];

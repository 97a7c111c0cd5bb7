import type { DataType, KernelConfig } from '@tensorflow/tfjs-core';
import * as k from '@tensorflow/tfjs-core';
import { input, inputList, torchKernel } from './kernel.js';

/**
 * Element-wise kernels of `a` and `b` that are one ATen operator. Both follow NumPy
 * broadcasting; tfjs has already given `a` and `b` one dtype, so LibTorch promotes nothing
 * (comparisons return bool, as in tfjs).
 */
const ONE_OPERATOR: ReadonlyArray<readonly [string, string, DataType?]> = [
  [k.Add, 'aten::add.Tensor'],
  [k.Sub, 'aten::sub.Tensor'],
  [k.Multiply, 'aten::mul.Tensor'],
  [k.RealDiv, 'aten::div.Tensor'],
  [k.Maximum, 'aten::maximum'],
  [k.Minimum, 'aten::minimum'],
  [k.Pow, 'aten::pow.Tensor_Tensor'],
  [k.Mod, 'aten::remainder.Tensor'], // the sign of the divisor, as tfjs
  [k.Atan2, 'aten::atan2'],
  [k.Equal, 'aten::eq.Tensor', 'bool'],
  [k.NotEqual, 'aten::ne.Tensor', 'bool'],
  [k.Less, 'aten::lt.Tensor', 'bool'],
  [k.LessEqual, 'aten::le.Tensor', 'bool'],
  [k.Greater, 'aten::gt.Tensor', 'bool'],
  [k.GreaterEqual, 'aten::ge.Tensor', 'bool'],
  [k.LogicalAnd, 'aten::logical_and', 'bool'],
  [k.LogicalOr, 'aten::logical_or', 'bool'],
  [k.LogicalXor, 'aten::logical_xor', 'bool'],
];

export const binaryKernels: KernelConfig[] = [
  ...ONE_OPERATOR.map(([name, operator, dtype]) =>
    torchKernel(name, (b, inputs) => {
      const x = input(inputs, 'a');
      return b.output(b.callTensor(operator, [b.id(x), b.id(input(inputs, 'b'))]), dtype ?? x.dtype);
    }),
  ),
  // tfjs's FloorDiv always returns int32, whatever the inputs' dtype.
  torchKernel(k.FloorDiv, (b, inputs) =>
    b.output(b.callTensor('aten::div.Tensor_mode', [b.id(input(inputs, 'a')), b.id(input(inputs, 'b')), 'floor']), 'int32'),
  ),
  torchKernel(k.SquaredDifference, (b, inputs) => {
    const difference = b.callTensor('aten::sub.Tensor', [b.id(input(inputs, 'a')), b.id(input(inputs, 'b'))]);
    const out = b.callTensor('aten::square', [difference]);
    b.free(difference);
    return b.output(out);
  }),
  // tfjs: x < 0 ? alpha·x : x, alpha broadcast against x.
  torchKernel(k.Prelu, (b, inputs) => {
    const x = b.id(input(inputs, 'x'));
    const scaled = b.callTensor('aten::mul.Tensor', [x, b.id(input(inputs, 'alpha'))]);
    const negative = b.callTensor('aten::lt.Scalar', [x, 0]);
    const out = b.callTensor('aten::where.self', [negative, scaled, x]);
    b.free(scaled, negative);
    return b.output(out);
  }),
  torchKernel(k.AddN, (b, inputs) => {
    const tensors = inputList(inputs).map((t) => b.id(t));
    const dtype = inputList(inputs)[0]?.dtype;
    if (tensors.length === 1) return b.output(b.callTensor('aten::clone', [tensors[0]]), dtype);
    // One stacked sum: a single kernel instead of n − 1 additions.
    const stacked = b.callTensor('aten::stack', [tensors, 0]);
    const out = b.callTensor('aten::sum.dim_IntList', [stacked, [0], false, dtype]);
    b.free(stacked);
    return b.output(out, dtype);
  }),
];

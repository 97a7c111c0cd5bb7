import type { KernelConfig } from '@tensorflow/tfjs-core';
import * as k from '@tensorflow/tfjs-core';
import { input, torchKernel } from './kernel.js';

/** Kernels that are one ATen operator applied to `x` (attrs-free, same dtype out unless noted). */
const ONE_OPERATOR: ReadonlyArray<readonly [string, string]> = [
  [k.Abs, 'aten::abs'],
  [k.Acos, 'aten::acos'],
  [k.Acosh, 'aten::acosh'],
  [k.Asin, 'aten::asin'],
  [k.Asinh, 'aten::asinh'],
  [k.Atan, 'aten::atan'],
  [k.Atanh, 'aten::atanh'],
  [k.Ceil, 'aten::ceil'],
  [k.Cos, 'aten::cos'],
  [k.Cosh, 'aten::cosh'],
  [k.Erf, 'aten::erf'],
  [k.Exp, 'aten::exp'],
  [k.Expm1, 'aten::expm1'],
  [k.Floor, 'aten::floor'],
  [k.IsNan, 'aten::isnan'],
  [k.IsInf, 'aten::isinf'],
  [k.IsFinite, 'aten::isfinite'],
  [k.Log, 'aten::log'],
  [k.Log1p, 'aten::log1p'],
  [k.LogicalNot, 'aten::logical_not'],
  [k.Neg, 'aten::neg'],
  [k.Reciprocal, 'aten::reciprocal'],
  [k.Relu, 'aten::relu'],
  [k.Round, 'aten::round'], // half to even, as tfjs
  [k.Rsqrt, 'aten::rsqrt'],
  [k.Selu, 'aten::selu'],
  [k.Sigmoid, 'aten::sigmoid'],
  [k.Sign, 'aten::sign'],
  [k.Sin, 'aten::sin'],
  [k.Sinh, 'aten::sinh'],
  [k.Sqrt, 'aten::sqrt'],
  [k.Square, 'aten::square'],
  [k.Tan, 'aten::tan'],
  [k.Tanh, 'aten::tanh'],
];

export const unaryKernels: KernelConfig[] = [
  ...ONE_OPERATOR.map(([name, operator]) =>
    torchKernel(name, (b, inputs) => {
      const x = input(inputs, 'x');
      return b.output(b.callTensor(operator, [b.id(x)]));
    }),
  ),
  // @lab/core's SILU_KERNEL and SILU_GRAD_KERNEL: one pass each instead of tfjs's mul/sigmoid chain.
  torchKernel('GenlabSilu', (b, inputs) => b.output(b.callTensor('aten::silu', [b.id(input(inputs, 'x'))]), 'float32')),
  torchKernel('GenlabSiluGrad', (b, inputs) =>
    b.output(b.callTensor('aten::silu_backward', [b.id(input(inputs, 'dy')), b.id(input(inputs, 'x'))]), 'float32'),
  ),
  // From the shape alone, as tfjs-backend-cpu does (tfjs code may pass a tensor already disposed).
  torchKernel(k.ZerosLike, (b, inputs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::zeros', [x.shape, x.dtype, null, b.device]), x.dtype);
  }),
  torchKernel(k.OnesLike, (b, inputs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::ones', [x.shape, x.dtype, null, b.device]), x.dtype);
  }),
  // tfjs: log(1 + exp(x)) computed stably; ATen's threshold 20 returns x beyond it (exact in float32).
  torchKernel(k.Softplus, (b, inputs) => b.output(b.callTensor('aten::softplus', [b.id(input(inputs, 'x')), 1, 20]))),
  torchKernel(k.Relu6, (b, inputs) => b.output(b.callTensor('aten::hardtanh', [b.id(input(inputs, 'x')), 0, 6]))),
  torchKernel(k.Elu, (b, inputs) => b.output(b.callTensor('aten::elu', [b.id(input(inputs, 'x'))]))),
  // tfjs: dy where y > 0, else dy·(y + 1) (the derivative of elu through its output).
  torchKernel(k.EluGrad, (b, inputs) => {
    const dy = b.id(input(inputs, 'dy'));
    const y = b.id(input(inputs, 'y'));
    const negative = b.callTensor('aten::lt.Scalar', [y, 0]);
    const slope = b.callTensor('aten::add.Scalar', [y, 1]);
    const scaled = b.callTensor('aten::mul.Tensor', [dy, slope]);
    const out = b.callTensor('aten::where.self', [negative, scaled, dy]);
    b.free(negative, slope, scaled);
    return b.output(out, 'float32');
  }),
  torchKernel(k.LeakyRelu, (b, inputs, attrs) =>
    b.output(b.callTensor('aten::leaky_relu', [b.id(input(inputs, 'x')), (attrs as unknown as k.LeakyReluAttrs).alpha])),
  ),
  torchKernel(k.ClipByValue, (b, inputs, attrs) => {
    const { clipValueMin, clipValueMax } = attrs as unknown as k.ClipByValueAttrs;
    return b.output(b.callTensor('aten::clamp', [b.id(input(inputs, 'x')), clipValueMin, clipValueMax]));
  }),
  // tfjs: x > 0 ? 1 : alpha, and NaN stays NaN. For alpha 0 (ReLU's gradient is dy·step(x)),
  // ceil(x) clamped to [0, 1] is exactly that (1 for every x > 0, denormals too; 0 for x ≤ 0; NaN
  // for NaN) in two passes, where the general form takes four and where.Scalar is slow.
  torchKernel(k.Step, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { alpha } = attrs as unknown as k.StepAttrs;
    if (alpha === 0 && x.dtype === 'float32') {
      const ceiled = b.callTensor('aten::ceil', [b.id(x)]);
      const out = b.callTensor('aten::clamp', [ceiled, 0, 1]);
      b.free(ceiled);
      return b.output(out, 'float32');
    }
    const positive = b.callTensor('aten::gt.Scalar', [b.id(x), 0]);
    const ones = b.callTensor('aten::where.Scalar', [positive, 1, alpha]);
    const nan = b.callTensor('aten::isnan', [b.id(x)]);
    const out = b.callTensor('aten::where.self', [nan, b.id(x), ones]);
    b.free(positive, ones, nan);
    return b.output(out, 'float32');
  }),
];

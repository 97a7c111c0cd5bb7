import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { input, tapeRecording, torchKernel } from './kernel.js';
import { type ConvAttrs, conv2d, conv2dBackpropFilter, conv2dBackpropInput } from './nn.js';

/** `@lab/core`'s fused layer kernels (this package does not depend on core). */
export const CONV2D_BIAS_ACTIVATION_KERNEL = 'GenlabConv2DBiasActivation';
export const CONV2D_BIAS_ACTIVATION_GRAD_KERNEL = 'GenlabConv2DBiasActivationGrad';
export const DENSE_BIAS_ACTIVATION_KERNEL = 'GenlabDenseBiasActivation';
export const DENSE_BIAS_ACTIVATION_GRAD_KERNEL = 'GenlabDenseBiasActivationGrad';

type Activation = 'linear' | 'silu';

interface FusedConvAttrs {
  strides: [number, number];
  pad: 'same' | 'valid';
  activation: Activation;
}

const convAttrs = (a: FusedConvAttrs): ConvAttrs => ({ strides: a.strides, pad: a.pad, dataFormat: 'NHWC' });

function activationOf(kernelName: string, attrs: { activation?: unknown }): Activation {
  const { activation } = attrs;
  if (activation !== 'linear' && activation !== 'silu')
    throw new Error(`@lab/backend-torch: ${kernelName} with activation '${String(activation)}' is not supported`);
  return activation;
}

/**
 * act(pre) as the kernel's output; `pre` is disposed. While a gradient tape records, SiLU's input
 * stays with the output's data for the gradient kernel (silu_backward reads it), as PyTorch's
 * autograd saves it.
 */
function activated(b: TorchBackend, pre: TensorInfo, activation: Activation): TensorInfo {
  if (activation === 'linear') return pre;
  const y = b.outputOfKnownShape(b.callTensor('aten::silu', [b.id(pre)]), pre.shape, 'float32');
  if (tapeRecording()) b.keepCompanion(y, b.callTensor('aten::alias', [b.id(pre)]));
  b.disposeIntermediateTensorInfo(pre);
  return y;
}

/** ∂L/∂pre from dy and the layer's output y (the caller disposes it). */
function preActivationGradient(b: TorchBackend, kernelName: string, dy: TensorInfo, y: TensorInfo, activation: Activation): TensorInfo {
  if (activation === 'linear') return b.share(dy);
  const pre = b.companionOf(y);
  if (pre === undefined)
    throw new Error(
      `@lab/backend-torch: ${kernelName} found no pre-activation with y (its forward kernel ran while no gradient tape recorded)`,
    );
  return b.outputOfKnownShape(b.callTensor('aten::silu_backward', [b.id(dy), pre]), dy.shape, 'float32');
}

/** A gradient computed only if read (`TorchBackend.deferredOutput`), from addon aliases of `sources`. */
function deferred(
  b: TorchBackend,
  shape: readonly number[],
  sources: TensorInfo[],
  compute: (ids: readonly number[]) => number,
): TensorInfo {
  return b.deferredOutput(
    [...shape],
    sources.map((t) => b.callTensor('aten::alias', [b.id(t)])),
    compute,
  );
}

/** Σ of `id` over `dims` (an addon id). */
const sumOver = (b: TorchBackend, id: number, dims: number[]) => b.callTensor('aten::sum.dim_IntList', [id, dims, false, null]);

/** a·bᵀ (`transposeB`) or aᵀ·b, as an addon id. */
function matmulTransposed(b: TorchBackend, left: number, right: number, transposeLeft: boolean): number {
  const transposed = b.callTensor('aten::t', [transposeLeft ? left : right]);
  const out = b.callTensor('aten::mm', transposeLeft ? [transposed, right] : [left, transposed]);
  b.free(transposed);
  return out;
}

/**
 * `@lab/core`'s fused layers: a convolution or dense layer with its bias and SiLU in one kernel
 * each way. On the small energy net they replace ~60 of the ~110 tfjs kernels of a training step
 * (tfjs's fused conv2d and matMul record reshapes, a custom-gradient wrapper and a separate
 * activation). Every gradient is deferred: one that nothing reads (the first layer's input
 * gradient in training, every weight gradient in Langevin sampling) is never computed.
 */
export const fusedLayerKernels: KernelConfig[] = [
  torchKernel(CONV2D_BIAS_ACTIVATION_KERNEL, (b, inputs, attrs) => {
    const a = attrs as unknown as FusedConvAttrs;
    const activation = activationOf(CONV2D_BIAS_ACTIVATION_KERNEL, a);
    const pre = conv2d(b, input(inputs, 'x'), input(inputs, 'filter'), input(inputs, 'bias'), convAttrs(a));
    return activated(b, pre, activation);
  }),
  torchKernel(CONV2D_BIAS_ACTIVATION_GRAD_KERNEL, (b, inputs, attrs) => {
    const a = attrs as unknown as FusedConvAttrs;
    const [x, filter] = [input(inputs, 'x'), input(inputs, 'filter')];
    const activation = activationOf(CONV2D_BIAS_ACTIVATION_GRAD_KERNEL, a);
    const dPre = preActivationGradient(b, CONV2D_BIAS_ACTIVATION_GRAD_KERNEL, input(inputs, 'dy'), input(inputs, 'y'), activation);
    try {
      return [
        conv2dBackpropInput(b, dPre, filter, [...x.shape], convAttrs(a)),
        conv2dBackpropFilter(b, x, dPre, [...filter.shape], convAttrs(a)),
        deferred(b, [filter.shape[3] as number], [dPre], ([d]) => sumOver(b, d as number, [0, 1, 2])),
      ];
    } finally {
      b.disposeIntermediateTensorInfo(dPre);
    }
  }),
  torchKernel(DENSE_BIAS_ACTIVATION_KERNEL, (b, inputs, attrs) => {
    const activation = activationOf(DENSE_BIAS_ACTIVATION_KERNEL, attrs);
    const [x, kernel, bias] = [input(inputs, 'x'), input(inputs, 'kernel'), input(inputs, 'bias')];
    const product = b.callTensor('aten::addmm', [b.id(bias), b.id(x), b.id(kernel)]);
    return activated(b, b.outputOfKnownShape(product, [x.shape[0] as number, kernel.shape[1] as number], 'float32'), activation);
  }),
  torchKernel(DENSE_BIAS_ACTIVATION_GRAD_KERNEL, (b, inputs, attrs) => {
    const activation = activationOf(DENSE_BIAS_ACTIVATION_GRAD_KERNEL, attrs);
    const [x, kernel] = [input(inputs, 'x'), input(inputs, 'kernel')];
    const dPre = preActivationGradient(b, DENSE_BIAS_ACTIVATION_GRAD_KERNEL, input(inputs, 'dy'), input(inputs, 'y'), activation);
    try {
      return [
        deferred(b, x.shape, [dPre, kernel], ([d, w]) => matmulTransposed(b, d as number, w as number, false)),
        deferred(b, kernel.shape, [x, dPre], ([xi, d]) => matmulTransposed(b, xi as number, d as number, true)),
        deferred(b, [kernel.shape[1] as number], [dPre], ([d]) => sumOver(b, d as number, [0])),
      ];
    } finally {
      b.disposeIntermediateTensorInfo(dPre);
    }
  }),
];

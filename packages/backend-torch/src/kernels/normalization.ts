import type { KernelConfig } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { input, toNchw, toNhwc, torchKernel } from './kernel.js';

/** `@lab/core`'s GROUP_NORM_KERNEL and GROUP_NORM_GRAD_KERNEL (this package does not depend on core). */
export const GROUP_NORM_KERNEL = 'GenlabGroupNorm';
export const GROUP_NORM_GRAD_KERNEL = 'GenlabGroupNormGrad';

interface GroupNormAttrs {
  groups: number;
  epsilon: number;
}

/** An NHWC tensor as a contiguous NCHW copy. */
function contiguousNchw(b: TorchBackend, id: number): number {
  const view = toNchw(b, id);
  const copy = b.callTensor('aten::contiguous', [view, 'contiguous']);
  b.free(view);
  return copy;
}

/**
 * Group norm of NHWC tensors with LibTorch's native_group_norm: on the CPU the forward pass runs
 * on the channels-last NCHW view in place (one read for the statistics, one pass to normalise);
 * CUDA's kernel takes only contiguous NCHW ("Expected X.is_contiguous(memory_format)"), so there
 * it gets a copy.
 */
export const normalizationKernels: KernelConfig[] = [
  torchKernel(GROUP_NORM_KERNEL, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { groups, epsilon } = attrs as unknown as GroupNormAttrs;
    const [batch, height, width, channels] = x.shape as [number, number, number, number];
    const view = b.device === 'cpu' ? toNchw(b, b.id(x)) : contiguousNchw(b, b.id(x));
    const [y, mean, rstd] = b.call('aten::native_group_norm', [
      view,
      b.id(input(inputs, 'gamma')),
      b.id(input(inputs, 'beta')),
      batch,
      channels,
      height * width,
      groups,
      epsilon,
    ]) as [number, number, number];
    const out = toNhwc(b, y);
    b.free(view, y);
    return [b.output(out, 'float32'), b.output(mean, 'float32'), b.output(rstd, 'float32')];
  }),
  torchKernel(GROUP_NORM_GRAD_KERNEL, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { groups } = attrs as unknown as GroupNormAttrs;
    const [batch, height, width, channels] = x.shape as [number, number, number, number];
    // LibTorch 1.13's native_group_norm_backward reads channels-last tensors as if they were
    // contiguous NCHW (wrong gradients, checked against PyTorch's contiguous result), so the
    // backward pass gets contiguous copies.
    const view = contiguousNchw(b, b.id(x));
    const grad = contiguousNchw(b, b.id(input(inputs, 'dy')));
    const [dx, dGamma, dBeta] = b.call('aten::native_group_norm_backward', [
      grad,
      view,
      b.id(input(inputs, 'mean')),
      b.id(input(inputs, 'rstd')),
      b.id(input(inputs, 'gamma')),
      batch,
      channels,
      height * width,
      groups,
      [true, true, true],
    ]) as [number, number, number];
    const out = toNhwc(b, dx);
    b.free(view, grad, dx);
    return [b.output(out, 'float32'), b.output(dGamma, 'float32'), b.output(dBeta, 'float32')];
  }),
];

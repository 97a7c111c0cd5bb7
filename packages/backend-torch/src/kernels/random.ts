import type { KernelConfig } from '@tensorflow/tfjs-core';
import { torchKernel } from './kernel.js';

/** `@lab/core`'s DROPOUT_MASK_KERNEL (this package does not depend on core). */
export const DROPOUT_MASK_KERNEL = 'GenlabDropoutMask';

/**
 * Random draws made by LibTorch where the tensor lives. tfjs draws random tensors in JavaScript
 * and uploads them: for dropout on a UNet at batch 128 that was 96 % of a CUDA training step
 * (docs/gpu.md). Drawn from LibTorch's default generator, so unseeded, like tf.dropout.
 */
export const randomKernels: KernelConfig[] = [
  torchKernel(DROPOUT_MASK_KERNEL, (b, _inputs, attrs) => {
    const { shape, keepProb } = attrs as unknown as { shape: number[]; keepProb: number };
    const like = b.callTensor('aten::empty.memory_format', [shape, 'float32', null, b.device, null, null]);
    const kept = b.callTensor('aten::bernoulli.p', [like, keepProb, null]);
    const mask = b.callTensor('aten::mul.Scalar', [kept, 1 / keepProb]);
    b.free(like, kept);
    return b.output(mask, 'float32');
  }),
];

import type { KernelConfig } from '@tensorflow/tfjs-core';
import { aleaState } from './alea.js';
import { torchKernel } from './kernel.js';

/** `@lab/core`'s DROPOUT_MASK_KERNEL (this package does not depend on core). */
export const DROPOUT_MASK_KERNEL = 'GenlabDropoutMask';
/** `@lab/core`'s SEEDED_NORMAL_KERNEL. */
export const SEEDED_NORMAL_KERNEL = 'GenlabSeededNormal';

/**
 * Random draws made by LibTorch where the tensor lives. tfjs draws random tensors in JavaScript
 * and uploads them; on an H200 the two bench models with dropout trained at 0.03× and 0.05× of
 * PyTorch's speed, the UNet without it at 0.37× (docs/gpu.md). The dropout mask comes from
 * LibTorch's default generator, so unseeded, like tf.dropout; seeded normal draws keep tfjs's
 * stream.
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
  // tf.randomNormal's seeded stream, drawn by the addon: Langevin sampling draws a batch of noise
  // every step, which tfjs's JavaScript draws 3× slower (docs/bench/torch-cd-step.md).
  torchKernel(SEEDED_NORMAL_KERNEL, (b, _inputs, attrs) => {
    const { shape, mean, stdDev, seed } = attrs as unknown as { shape: number[]; mean: number; stdDev: number; seed: number };
    return b.output(b.native.aleaNormal(shape, aleaState(String(seed)), mean, stdDev), 'float32');
  }),
];

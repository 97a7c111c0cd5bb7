import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { input, torchKernel } from './kernel.js';

/** `@lab/core`'s ADAM_UPDATE_KERNEL: the kernel its FusedAdamOptimizer calls when registered. */
export const ADAM_UPDATE_KERNEL = 'GenlabAdamUpdate';

export interface AdamUpdateAttrs {
  count: number;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  biasCorrection1: number;
  biasCorrection2: number;
}

/** Addon ids of the variables' values, gradients, first and second moments, in one order. */
export type AdamLists = [number[], number[], number[], number[]];

/** One ATen `_foreach_` call over lists of tensor ids; frees nothing. */
function foreach(b: TorchBackend, operator: string, args: readonly unknown[]): number[] {
  return b.call(`aten::_foreach_${operator}`, args) as number[];
}

/**
 * Adam for every variable in eight list operations (PyTorch's foreach Adam):
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − (lr / (1−β₁ᵗ)) · m / (√(v / (1−β₂ᵗ)) + ε)
 * (CUDA's path; bench/torch-step-ab.ts also runs it on the CPU, as the backend did before `adamUpdate`).
 */
export function foreachAdam(b: TorchBackend, [values, gradients, ms, vs]: AdamLists, a: AdamUpdateAttrs): number[] {
  const temps: number[][] = [];
  const keep = (ids: number[]) => {
    temps.push(ids);
    return ids;
  };
  const m = foreach(b, 'add.List', [keep(foreach(b, 'mul.Scalar', [ms, a.beta1])), gradients, 1 - a.beta1]);
  const v = foreach(b, 'addcmul.Scalar', [keep(foreach(b, 'mul.Scalar', [vs, a.beta2])), gradients, gradients, 1 - a.beta2]);
  const corrected = keep(foreach(b, 'div.Scalar', [v, a.biasCorrection2]));
  const denominator = keep(foreach(b, 'add.Scalar', [keep(foreach(b, 'sqrt', [corrected])), a.epsilon]));
  const w = foreach(b, 'addcdiv.Scalar', [values, m, denominator, -a.learningRate / a.biasCorrection1]);
  b.free(...temps.flat());
  return [...m, ...v, ...w];
}

/**
 * The same update as one addon call on the CPU: one pass over each variable's memory instead of
 * eight list operations, each of which walks every variable (and allocates) again.
 */
function fusedCpuAdam(b: TorchBackend, [values, gradients, ms, vs]: AdamLists, a: AdamUpdateAttrs, powers: [number, number]): number[] {
  return b.native.adamUpdate(values, gradients, ms, vs, [a.learningRate, a.beta1, a.beta2, a.epsilon], ...powers);
}

export const optimizerKernels: KernelConfig[] = [
  torchKernel(ADAM_UPDATE_KERNEL, (b, inputs, attrs) => {
    const a = attrs as unknown as AdamUpdateAttrs;
    const variables = Array.from({ length: a.count }, (_, i) => input(inputs, `value${i}`));
    const list = (name: string) => variables.map((_, i) => b.id(input(inputs, `${name}${i}`)));
    const lists: AdamLists = [list('value'), list('gradient'), list('m'), list('v')];
    // β₁ᵗ and β₂ᵗ as tensors (the optimizer's accBeta1 and accBeta2), not the attrs' bias corrections: a
    // captured step replays the same call on every later step.
    const powers: [number, number] = [b.id(input(inputs, 'beta1Power')), b.id(input(inputs, 'beta2Power'))];
    const ids = b.device === 'cpu' ? fusedCpuAdam(b, lists, a, powers) : foreachAdam(b, lists, a);
    // [m'…, v'…, w'…], each shaped as its variable.
    return ids.map((id, i) => b.outputOfKnownShape(id, (variables[i % a.count] as TensorInfo).shape, 'float32'));
  }),
];

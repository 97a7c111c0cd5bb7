import { type BatchMatMulAttrs, type KernelBackend, type KernelFunc, type TensorInfo, Transpose } from '@tensorflow/tfjs-core';
import { withKernelScope } from './kernel-scope.js';

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/**
 * wasm's BatchMatMul runs ~9× slower with `transposeA`/`transposeB` than without (measured
 * 0.45 vs 4 GFLOP/s at 1024×128×256). This wrapper transposes such operands explicitly and
 * calls the stock kernel untransposed. Attention (q·kᵀ) and every matmul gradient hit it.
 */
export function createTransposingBatchMatMul(backendName: string, stock: KernelFunc): KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as BatchMatMulAttrs;
    if (!attrs.transposeA && !attrs.transposeB) return stock(args);
    const backend = args.backend as KernelBackend;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    return withKernelScope(backend, backendName, (scope) => {
      const a2 = attrs.transposeA ? scope.run(Transpose, { x: a }, { perm: swapLastTwo(a.shape.length) }) : a;
      const b2 = attrs.transposeB ? scope.run(Transpose, { x: b }, { perm: swapLastTwo(b.shape.length) }) : b;
      const out = stock({ inputs: { a: a2, b: b2 }, backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      return scope.adopt(Array.isArray(out) ? (out[0] as TensorInfo) : out);
    });
  };
}
